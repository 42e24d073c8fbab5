//! Bad input: random and truncated bytes, bad signatures, the wrong chain,
//! replayed or skipped nonces, oversize transactions — each refused with its
//! code, never a panic, in CheckTx, ProcessProposal and FinalizeBlock alike.

use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::tx::{decode_and_verify, sign_tx, MAX_TX_BYTES};
use ehr_ledger::Code;
use ehr_testkit::world::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use prost::Message;

fn valid_tx(nonce: u64) -> Vec<u8> {
    sign_tx(
        &SecretKey::from_seed("alice"),
        CHAIN,
        nonce,
        Kind::SetResearchConsent(SetResearchConsent {
            patient: vec![1; 20],
            consent: true,
        }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused_with_a_stateless_code(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let err = decode_and_verify(&bytes, CHAIN).expect_err("random bytes are no transaction");
        prop_assert!((err.code as u32) < 20, "{}", err);
        prop_assert!(!err.message.is_empty());
    }

    #[test]
    fn every_truncation_of_a_valid_transaction_is_refused(cut in 0usize..200) {
        let tx = valid_tx(1);
        let cut = cut.min(tx.len() - 1);
        prop_assert!(decode_and_verify(&tx[..cut], CHAIN).is_err());
    }

    #[test]
    fn every_single_bit_flip_is_refused(bit in 0usize..2000) {
        let mut tx = valid_tx(1);
        let bit = bit % (tx.len() * 8);
        tx[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(decode_and_verify(&tx, CHAIN).is_err());
    }

    #[test]
    fn arbitrary_envelopes_never_verify(body in proptest::collection::vec(any::<u8>(), 0..300),
                                        key in proptest::collection::vec(any::<u8>(), 0..40),
                                        sig in proptest::collection::vec(any::<u8>(), 0..70)) {
        let bytes = SignedTx { body, public_key: key, signature: sig }.encode_to_vec();
        let err = decode_and_verify(&bytes, CHAIN).expect_err("no forged envelope verifies");
        prop_assert!(matches!(err.code, Code::TxMalformed | Code::BadPublicKey | Code::BadSignature), "{}", err);
    }
}

#[test]
fn signatures_of_another_key_or_body_are_refused() {
    let tx = SignedTx::decode(valid_tx(1).as_slice()).unwrap();
    let other = SecretKey::from_seed("mallory");
    let swapped_key = SignedTx {
        public_key: other.public_key().to_bytes().to_vec(),
        ..tx.clone()
    };
    assert_eq!(
        decode_and_verify(&swapped_key.encode_to_vec(), CHAIN)
            .unwrap_err()
            .code,
        Code::BadSignature
    );
    let short_sig = SignedTx {
        signature: tx.signature[..63].to_vec(),
        ..tx.clone()
    };
    assert_eq!(
        decode_and_verify(&short_sig.encode_to_vec(), CHAIN)
            .unwrap_err()
            .code,
        Code::BadSignature
    );
    let bad_key = SignedTx {
        public_key: vec![9; 33],
        ..tx.clone()
    };
    assert_eq!(
        decode_and_verify(&bad_key.encode_to_vec(), CHAIN)
            .unwrap_err()
            .code,
        Code::BadPublicKey
    );
    // A body that is not a TxBody, validly signed.
    let key = SecretKey::from_seed("alice");
    let junk = vec![0xff; 16];
    let signed_junk = SignedTx {
        body: junk.clone(),
        public_key: key.public_key().to_bytes().to_vec(),
        signature: key.sign(&junk).to_vec(),
    };
    assert_eq!(
        decode_and_verify(&signed_junk.encode_to_vec(), CHAIN)
            .unwrap_err()
            .code,
        Code::BodyMalformed
    );
    // A body without an action.
    let empty = TxBody {
        chain_id: CHAIN.into(),
        nonce: 1,
        action: None,
    }
    .encode_to_vec();
    let no_action = SignedTx {
        body: empty.clone(),
        public_key: key.public_key().to_bytes().to_vec(),
        signature: key.sign(&empty).to_vec(),
    };
    assert_eq!(
        decode_and_verify(&no_action.encode_to_vec(), CHAIN)
            .unwrap_err()
            .code,
        Code::NoAction
    );
}

#[test]
fn the_wrong_chain_and_oversize_transactions_are_refused() {
    let other_chain = sign_tx(
        &SecretKey::from_seed("alice"),
        "another-chain",
        1,
        Kind::Vote(Vote {
            proposal_id: 1,
            approve: true,
        }),
    );
    let err = decode_and_verify(&other_chain, CHAIN).unwrap_err();
    assert_eq!(err.code, Code::WrongChainId);
    assert!(err.message.contains("another-chain"));
    let huge = Kind::LogDisclosures(LogDisclosures {
        disclosures: vec![Disclosure {
            record_ids: vec!["x".repeat(60); 1200],
            ..Default::default()
        }],
    });
    let big = sign_tx(&SecretKey::from_seed("alice"), CHAIN, 1, huge);
    assert!(big.len() > MAX_TX_BYTES);
    assert_eq!(
        decode_and_verify(&big, CHAIN).unwrap_err().code,
        Code::TxTooLarge
    );
}

#[test]
fn replayed_and_skipped_nonces_are_refused_in_blocks() {
    let mut w = World::new();
    let consent = Kind::SetResearchConsent(SetResearchConsent {
        patient: w.alice.addr(),
        consent: true,
    });
    // Alice used nonce 1 to register.
    let replay = w.alice.tx_with_nonce(1, consent.clone());
    w.refused(replay, Code::NonceReplayed);
    let skip = w.alice.tx_with_nonce(5, consent.clone());
    let r = w.refused(skip, Code::NonceSkipped);
    assert!(r.log.contains("next nonce of"), "{}", r.log);
    let tx = w.alice.tx(consent.clone());
    w.ok(tx.clone());
    // The very same bytes again: a replay.
    w.refused(tx, Code::NonceReplayed);
    // A refused action still uses its nonce, so it cannot come back later.
    let refused = w.alice.tx(prescribe(&w.alice, 0, w.now() + DAY));
    w.refused(refused.clone(), Code::WrongRole);
    w.refused(refused, Code::NonceReplayed);
    let account: Account = w.query(&format!("/account/{}", w.alice.address()));
    assert_eq!(account.nonce, 3);
}

#[test]
fn a_block_full_of_garbage_is_flagged_by_process_proposal_and_survived_by_finalize() {
    let mut w = World::new();
    let good = w.alice.tx(Kind::SetResearchConsent(SetResearchConsent {
        patient: w.alice.addr(),
        consent: true,
    }));
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let garbage: Vec<Vec<u8>> = (0..50)
        .map(|_| {
            proptest::collection::vec(any::<u8>(), 0..512)
                .new_tree(&mut runner)
                .unwrap()
                .current()
        })
        .collect();
    let mut txs = vec![good.clone()];
    txs.extend(garbage);
    let (index, refusal) = w.node.ledger.verify_proposal(&txs).unwrap_err();
    assert_eq!(index, 1);
    assert!((refusal.code as u32) < 20);
    assert!(w.node.ledger.verify_proposal(&[good]).is_ok());
    // FinalizeBlock must still cope if such a block is decided.
    let result = w.node.block(txs).unwrap();
    assert_eq!(result.tx_results[0].code, Code::Ok);
    assert!(result.tx_results[1..]
        .iter()
        .all(|r| r.code != Code::Ok && !r.log.is_empty()));
}

fn grant_access_kind(patient: &[u8]) -> Kind {
    Kind::GrantAccess(GrantAccess {
        patient: patient.to_vec(),
        grantee: organisation("general"),
        categories: vec![1, 2],
        access: 1,
        expires_at: 2_000_000_000,
    })
}

/// Actions built from arbitrary bytes (when they decode at all) and arbitrary
/// numbers, validly signed, delivered in real blocks: each gets a known code.
fn arbitrary_actions() -> impl Strategy<Value = Vec<Kind>> {
    // Valid actions with random bytes overwritten: many still decode, into odd values.
    let templates: Vec<Vec<u8>> = {
        let p = SecretKey::from_seed("p").address().0.to_vec();
        [
            grant_access_kind(&p),
            Kind::BindDevice(BindDevice {
                device_id: "d-1".into(),
                public_key: SecretKey::from_seed("d").public_key().to_bytes().to_vec(),
                patient: p.clone(),
            }),
            Kind::AnchorRecord(AnchorRecord {
                record: Some(RecordRef {
                    record_id: "r".into(),
                    patient: p.clone(),
                    category: 1,
                    ciphertext_sha256: vec![0; 32],
                    size: 1,
                    locator: "x".into(),
                }),
            }),
            Kind::LogDisclosures(LogDisclosures {
                disclosures: vec![Disclosure {
                    accessor: p.clone(),
                    patient: p.clone(),
                    record_ids: vec!["r".into()],
                    purpose: 1,
                    disclosed_at: 1,
                    category: 1,
                    ..Default::default()
                }],
            }),
            Kind::OpenEmergencyAccess(OpenEmergencyAccess {
                patient: p,
                reason: 1,
                justification: "j".into(),
            }),
        ]
        .into_iter()
        .map(|k| Action { kind: Some(k) }.encode_to_vec())
        .collect()
    };
    let decoded = (
        0..templates.len(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    )
        .prop_map(move |(t, edits)| {
            let mut bytes = templates[t].clone();
            for (at, b) in edits {
                let i = at % bytes.len();
                bytes[i] = b;
            }
            Action::decode(bytes.as_slice()).ok().and_then(|a| a.kind)
        });
    let numeric =
        (any::<u64>(), any::<u32>(), any::<i64>(), any::<bool>()).prop_map(|(n, m, t, f)| {
            vec![
                Kind::Dispense(Dispense { prescription_id: n }),
                Kind::Vote(Vote {
                    proposal_id: n,
                    approve: f,
                }),
                Kind::AnchorBatch(AnchorBatch {
                    batch_id: n,
                    merkle_root: vec![1; 32],
                    record_count: m,
                    first_record: n,
                    last_record: n.wrapping_add(u64::from(m)),
                }),
                Kind::Prescribe(Prescribe {
                    patient: vec![2; 20],
                    refills: m,
                    valid_until: t,
                    content: Some(RecordRef {
                        record_id: format!("rx-{n}"),
                        patient: vec![2; 20],
                        category: (m % 8) as i32,
                        ciphertext_sha256: vec![1; (m % 40) as usize],
                        size: n,
                        locator: "gateway://documents/rx".into(),
                    }),
                }),
                Kind::GrantAccess(GrantAccess {
                    patient: vec![3; 20],
                    grantee: organisation("general"),
                    categories: vec![m as i32],
                    access: (m % 4) as i32,
                    expires_at: t,
                }),
            ]
        });
    (proptest::collection::vec(decoded, 0..8), numeric).prop_map(|(a, mut b)| {
        b.extend(a.into_iter().flatten());
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_actions_from_any_sender_get_a_code_and_never_panic(actions in arbitrary_actions()) {
        let mut w = World::new();
        let mut txs = vec![];
        for (i, action) in actions.into_iter().enumerate() {
            let sender = match i % 4 { 0 => &mut w.alice, 1 => &mut w.doctor, 2 => &mut w.admin, _ => &mut w.ingest };
            txs.push(sender.tx(action));
        }
        let block = w.node.block(txs).unwrap();
        for r in block.tx_results {
            prop_assert!(Code::from_u32(r.code as u32).is_some());
            prop_assert!(r.code != Code::Internal, "{}", r.log);
            prop_assert!(r.code == Code::Ok || !r.log.is_empty());
        }
    }
}
