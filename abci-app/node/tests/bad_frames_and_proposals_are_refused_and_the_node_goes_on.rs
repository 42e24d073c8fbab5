//! What a faulty proposer or a hostile peer sends `ehr-node start`: a
//! proposal with garbage is rejected and PrepareProposal drops what cannot
//! apply; malformed frames get an Exception and close only their connection;
//! frames announcing more than they send cost only what arrives; a
//! transaction in another encoding than its canonical one is refused.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use ehr_ledger::mock_consensus::GENESIS_TIME;
use ehr_ledger::Code;
use ehr_node::abci::proto::{request, response, *};
use ehr_node::abci::wire::encode_frame;
use ehr_testkit::world::*;
use prost::Message;

use common::*;

#[test]
fn a_proposal_with_garbage_is_rejected_and_prepare_drops_what_cannot_apply() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::start(
        home.path(),
        &format!("unix://{}/abci.sock", home.path().display()),
    );
    let mut c = node.connect();
    init_chain(&mut c);
    let mut admin = ehr_testkit::world::actor("admin@general");
    let good = admin.tx(register_staff(
        ehr_testkit::world::actor("doctor@general").public_key(),
        ehr_ledger::proto::Role::Doctor,
    ));
    let stale = admin.tx_with_nonce(
        1,
        ehr_ledger::proto::action::Kind::Vote(ehr_ledger::proto::Vote {
            proposal_id: 1,
            approve: true,
        }),
    );
    match c.call(request::Value::ProcessProposal(RequestProcessProposal {
        txs: vec![good.clone().into(), vec![1, 2, 3].into()],
        height: 1,
        ..Default::default()
    })) {
        response::Value::ProcessProposal(p) => assert_eq!(
            p.status,
            response_process_proposal::ProposalStatus::Reject as i32
        ),
        other => panic!("{other:?}"),
    }
    match c.call(request::Value::PrepareProposal(RequestPrepareProposal {
        max_tx_bytes: 1 << 20,
        txs: vec![good.clone().into(), vec![9; 40].into(), stale.into()],
        height: 1,
        time: ts(GENESIS_TIME + 5),
        ..Default::default()
    })) {
        // The garbage and the second use of nonce 1 are dropped.
        response::Value::PrepareProposal(p) => {
            assert_eq!(p.txs, vec![prost::bytes::Bytes::from(good.clone())])
        }
        other => panic!("{other:?}"),
    }
    // Within max_tx_bytes only.
    match c.call(request::Value::PrepareProposal(RequestPrepareProposal {
        max_tx_bytes: 10,
        txs: vec![good.into()],
        height: 1,
        ..Default::default()
    })) {
        response::Value::PrepareProposal(p) => assert!(p.txs.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_frames_get_an_exception_and_close_only_that_connection() {
    let home = tempfile::tempdir().unwrap();
    let mut node = Node::start(home.path(), ANY_TCP_PORT);
    let cases: Vec<Vec<u8>> = vec![
        encode_frame(&[0xff, 0xff, 0xff]),  // not a Request
        encode_frame(&[]),                  // an empty Request
        vec![0xff; 11],                     // a length that is no varint
        vec![0xff, 0xff, 0xff, 0xff, 0x7f], // a 32 GiB frame
    ];
    for bytes in cases {
        let mut conn = node.connect();
        conn.0.write_all(&bytes).unwrap();
        match conn.receive() {
            Ok(response::Value::Exception(e)) => assert!(!e.error.is_empty()),
            other => panic!("expected an Exception, got {other:?}"),
        }
        // The node closed that connection…
        let mut rest = vec![];
        assert_eq!(conn.0.read_to_end(&mut rest).unwrap_or(0), 0);
    }
    // …and is still alive and serving.
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the node must not die of bad input"
    );
    let mut fresh = node.connect();
    assert_eq!(info(&mut fresh).last_block_height, 0);
    // A truncated frame followed by a hang-up is logged, not fatal.
    let mut half = node.connect();
    half.0.write_all(&[0x20, 1, 2]).unwrap();
    drop(half);
    std::thread::sleep(Duration::from_millis(200));
    assert!(node.child.try_wait().unwrap().is_none());
}

/// Frames that announce 128 MiB each and send a few bytes cost the node only
/// what arrives: with its address space limited to 1.5 GiB, 24 such
/// connections (3 GiB announced) neither exhaust it nor stop it serving.
#[test]
fn frames_announcing_more_than_they_send_cost_only_what_arrives() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::start_within(home.path(), ANY_TCP_PORT, Some(1_536 * 1024));
    let announced = [0x80, 0x80, 0x80, 0x40]; // a varint of 128 MiB
    let mut open = Vec::new();
    for _ in 0..24 {
        let mut conn = node.connect();
        conn.0.write_all(&announced).unwrap();
        conn.0.write_all(&[0u8; 16]).unwrap();
        open.push(conn);
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut node = node;
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the node died of frames it never received"
    );
    let mut fresh = node.connect();
    assert_eq!(info(&mut fresh).last_block_height, 0);
    drop(open);
}

/// A transaction has one encoding: re-encoded with an unknown or repeated
/// field (which a protobuf decoder accepts, and which gives it another hash
/// while its signature still verifies) it is refused by CheckTx, whose log
/// says why. A signed body in a non-canonical encoding is refused too.
#[test]
fn a_transaction_in_another_encoding_than_its_canonical_one_is_refused() {
    use ehr_ledger::proto::{action::Kind, Action, RegisterPatient, SignedTx, TxBody};
    let home = tempfile::tempdir().unwrap();
    let node = Node::start(home.path(), ANY_TCP_PORT);
    let mut consensus = node.connect();
    info(&mut consensus);
    init_chain(&mut consensus);
    let mut mempool = node.connect();
    let mut check = |tx: Vec<u8>| match mempool.call(request::Value::CheckTx(RequestCheckTx {
        tx: tx.into(),
        r#type: CheckTxType::New as i32,
    })) {
        response::Value::CheckTx(r) => (r.code, r.log),
        other => panic!("{other:?}"),
    };
    let patient = ehr_ledger::crypto::SecretKey::from_seed("a patient");
    let canonical = ehr_ledger::tx::sign_tx(
        &patient,
        CHAIN,
        1,
        Kind::RegisterPatient(RegisterPatient::default()),
    );
    let envelope = SignedTx::decode(canonical.as_slice()).unwrap();
    // An unknown field (number 15, varint 1) appended; the body field repeated.
    let mut unknown_field = canonical.clone();
    unknown_field.extend([0x78, 0x01]);
    let mut repeated = canonical.clone();
    repeated.extend(
        SignedTx {
            body: envelope.body.clone(),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    // A body with an unknown field, properly signed.
    let body = TxBody {
        chain_id: CHAIN.into(),
        nonce: 1,
        action: Some(Action {
            kind: Some(Kind::RegisterPatient(RegisterPatient::default())),
        }),
    };
    let mut odd_body = body.encode_to_vec();
    odd_body.extend([0x78, 0x01]);
    let signed_odd_body = SignedTx {
        signature: patient.sign(&odd_body).to_vec(),
        public_key: patient.public_key().to_bytes().to_vec(),
        body: odd_body,
    }
    .encode_to_vec();
    for (what, tx, code) in [
        ("an unknown field", unknown_field, Code::TxMalformed),
        ("a repeated field", repeated, Code::TxMalformed),
        (
            "a signed body with an unknown field",
            signed_odd_body,
            Code::BodyMalformed,
        ),
    ] {
        let (got, log) = check(tx);
        assert_eq!(got, code as u32, "{what}: {log}");
        assert!(log.contains("canonical"), "{what}: {log}");
    }
    // The canonical encoding gets past decoding and signature to the rules
    // (whose answer for a key nobody enrolled is NotEnrolled).
    let (got, log) = check(canonical);
    assert_eq!(got, Code::NotEnrolled as u32, "{log}");
}
