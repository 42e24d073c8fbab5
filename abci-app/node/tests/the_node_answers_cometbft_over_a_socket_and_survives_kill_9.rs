//! `ehr-node start` as a real process, driven over a real socket with
//! CometBFT v0.38's wire protocol, as a CometBFT node would: the Info
//! handshake, InitChain, blocks of PrepareProposal / ProcessProposal /
//! FinalizeBlock / Commit with a Flush after each request, CheckTx new and
//! recheck, Query with proofs; then kill -9 between FinalizeBlock and Commit,
//! restart, and replay to the same app hash; and malformed frames.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ehr_ledger::ledger::query::decode_proof;
use ehr_ledger::mock_consensus::{consortium_genesis, TestNode, GENESIS_TIME};
use ehr_ledger::storage::verify_proof;
use ehr_ledger::Code;
use ehr_node::abci::proto::{request, response, Request, Response, *};
use ehr_node::abci::wire::encode_frame;
use ehr_testkit::world::workload::blocks;
use ehr_testkit::world::*;
use prost::Message;
use tendermint_proto::google::protobuf::Timestamp;

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// One of CometBFT's connections to the app.
struct Conn(Box<dyn Stream>);

fn read_varint_frame(s: &mut dyn Stream) -> std::io::Result<Vec<u8>> {
    let mut len: u64 = 0;
    for i in 0..10 {
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        len |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            let mut buf = vec![0u8; len as usize];
            s.read_exact(&mut buf)?;
            return Ok(buf);
        }
    }
    Err(std::io::Error::other("bad varint"))
}

impl Conn {
    fn send(&mut self, value: request::Value) {
        let bytes = Request { value: Some(value) }.encode_to_vec();
        self.0.write_all(&encode_frame(&bytes)).unwrap();
    }

    fn receive(&mut self) -> std::io::Result<response::Value> {
        let frame = read_varint_frame(&mut *self.0)?;
        Ok(Response::decode(frame.as_slice()).unwrap().value.unwrap())
    }

    /// A request and its Flush, as CometBFT's socket client sends them.
    fn call(&mut self, value: request::Value) -> response::Value {
        self.send(value);
        self.send(request::Value::Flush(RequestFlush {}));
        let answer = self.receive().expect("an answer");
        assert!(matches!(
            self.receive().expect("a flush"),
            response::Value::Flush(_)
        ));
        answer
    }
}

struct Node {
    child: Child,
    address: String,
    home: PathBuf,
}

impl Node {
    /// Starts `ehr-node start` on `address` (tcp://127.0.0.1:0 picks a free
    /// port) and learns the address it bound from its first line of output.
    fn start(home: &Path, address: &str) -> Node {
        Self::start_within(home, address, None)
    }

    /// With its address space limited to `kib` KiB (`ulimit -v`) when given.
    fn start_within(home: &Path, address: &str, kib: Option<u64>) -> Node {
        use std::io::BufRead;
        let limit = kib.map_or_else(|| "unlimited".to_string(), |k| k.to_string());
        let mut child = Command::new("sh")
            .args(["-c", &format!("ulimit -v {limit} && exec \"$0\" \"$@\"")])
            .arg(env!("CARGO_BIN_EXE_ehr-node"))
            .args(["start", "--home", home.to_str().unwrap(), "--abci", address])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ehr-node starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let bound = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            line.contains("ABCI listening on"),
            "ehr-node did not start: {line:?} {:?}",
            child.try_wait()
        );
        Node {
            child,
            address: bound,
            home: home.to_path_buf(),
        }
    }

    fn try_connect(&self) -> Option<Conn> {
        if let Some(path) = self.address.strip_prefix("unix://") {
            UnixStream::connect(path).ok().map(|s| Conn(Box::new(s)))
        } else {
            TcpStream::connect(self.address.trim_start_matches("tcp://"))
                .ok()
                .map(|s| Conn(Box::new(s)))
        }
    }

    fn connect(&self) -> Conn {
        self.try_connect().expect("connects")
    }

    fn kill_9(mut self) -> PathBuf {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.home.clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Any free port, chosen by the node when it binds.
const ANY_TCP_PORT: &str = "tcp://127.0.0.1:0";

fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

fn info(c: &mut Conn) -> ResponseInfo {
    match c.call(request::Value::Info(RequestInfo {
        version: "0.38.17".into(),
        block_version: 11,
        p2p_version: 8,
        abci_version: "2.0.0".into(),
    })) {
        response::Value::Info(i) => i,
        other => panic!("{other:?}"),
    }
}

fn init_chain(c: &mut Conn) -> ResponseInitChain {
    let app_state = serde_json::to_vec(&consortium_genesis(&ORGS)).unwrap();
    match c.call(request::Value::InitChain(RequestInitChain {
        time: ts(GENESIS_TIME),
        chain_id: CHAIN.into(),
        app_state_bytes: app_state.into(),
        initial_height: 1,
        ..Default::default()
    })) {
        response::Value::InitChain(r) => r,
        other => panic!("{other:?}"),
    }
}

/// One block as CometBFT's consensus connection drives it; the app hash.
fn block(
    c: &mut Conn,
    height: i64,
    time: i64,
    txs: &[Vec<u8>],
    commit: bool,
) -> ResponseFinalizeBlock {
    let txs: Vec<_> = txs.iter().map(|t| t.clone().into()).collect();
    let prepared = match c.call(request::Value::PrepareProposal(RequestPrepareProposal {
        max_tx_bytes: 1 << 20,
        txs: txs.clone(),
        height,
        time: ts(time),
        ..Default::default()
    })) {
        response::Value::PrepareProposal(p) => p,
        other => panic!("{other:?}"),
    };
    assert!(prepared.txs.len() <= txs.len());
    match c.call(request::Value::ProcessProposal(RequestProcessProposal {
        txs: txs.clone(),
        height,
        time: ts(time),
        ..Default::default()
    })) {
        response::Value::ProcessProposal(p) => assert_eq!(
            p.status,
            response_process_proposal::ProposalStatus::Accept as i32
        ),
        other => panic!("{other:?}"),
    }
    let finalized = match c.call(request::Value::FinalizeBlock(RequestFinalizeBlock {
        txs,
        height,
        time: ts(time),
        ..Default::default()
    })) {
        response::Value::FinalizeBlock(f) => f,
        other => panic!("{other:?}"),
    };
    if commit {
        assert!(matches!(
            c.call(request::Value::Commit(RequestCommit {})),
            response::Value::Commit(_)
        ));
    }
    finalized
}

/// The registration block and the workload, as (time, txs) from height 1.
fn stream(count: usize) -> Vec<(i64, Vec<Vec<u8>>)> {
    let mut gen = World::new();
    let scratch = tempfile::tempdir().unwrap();
    let mut all = vec![(
        GENESIS_TIME + 5,
        World::unregistered(scratch.path()).registration_txs(),
    )];
    all.extend(blocks(&mut gen, count));
    // Only blocks an honest proposer makes: the workload's garbage would be
    // rejected by ProcessProposal (tested on its own below).
    for (_, txs) in &mut all {
        txs.retain(|tx| ehr_ledger::tx::decode_and_verify(tx, CHAIN).is_ok());
    }
    all
}

/// App hashes after each block of `stream`, from the in-process ledger.
fn reference_hashes(stream: &[(i64, Vec<Vec<u8>>)]) -> Vec<[u8; 32]> {
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::init(
        &dir.path().join("ledger.redb"),
        CHAIN,
        &consortium_genesis(&ORGS),
    )
    .unwrap();
    stream
        .iter()
        .map(|(time, txs)| {
            node.time = *time;
            node.block(txs.clone()).unwrap().app_hash
        })
        .collect()
}

fn drive(address_of: impl Fn(&Path) -> String) {
    let chain = stream(12);
    let reference = reference_hashes(&chain);
    let home = tempfile::tempdir().unwrap();
    let node = Node::start(home.path(), &address_of(home.path()));
    // CometBFT opens four connections.
    let (mut query, _snapshot, mut mempool, mut consensus) = (
        node.connect(),
        node.connect(),
        node.connect(),
        node.connect(),
    );

    let i = info(&mut query);
    assert_eq!(i.last_block_height, 0, "a new node asks for InitChain");
    assert_eq!(i.data, "ehr-ledger");
    let init = init_chain(&mut consensus);
    assert_eq!(
        init.validators.len(),
        ORGS.len(),
        "the ledger's validators go to CometBFT"
    );
    assert_eq!(init.app_hash.len(), 32);

    // CheckTx of the registration block's transactions, then the blocks.
    for tx in &chain[0].1 {
        match mempool.call(request::Value::CheckTx(RequestCheckTx {
            tx: tx.clone().into(),
            r#type: CheckTxType::New as i32,
        })) {
            response::Value::CheckTx(r) => assert_eq!(r.code, 0, "{}", r.log),
            other => panic!("{other:?}"),
        }
    }
    for (h, (time, txs)) in chain.iter().enumerate().take(6) {
        let f = block(&mut consensus, h as i64 + 1, *time, txs, true);
        assert_eq!(
            f.app_hash.to_vec(),
            reference[h].to_vec(),
            "height {}",
            h + 1
        );
        assert_eq!(f.tx_results.len(), txs.len());
        for r in &f.tx_results {
            assert!(r.code == 0 || !r.log.is_empty());
            assert!(r.code == 0 || r.codespace == "ehr");
        }
    }
    // Recheck after a commit: an already included transaction is now a replay.
    match mempool.call(request::Value::CheckTx(RequestCheckTx {
        tx: chain[0].1[0].clone().into(),
        r#type: CheckTxType::Recheck as i32,
    })) {
        response::Value::CheckTx(r) => assert_eq!(r.code, Code::NonceReplayed as u32, "{}", r.log),
        other => panic!("{other:?}"),
    }
    // A query with a proof, verified against the app hash of its height.
    let admin = ehr_testkit::world::actor("admin@general");
    match query.call(request::Value::Query(RequestQuery {
        path: format!("/participant/{}", admin.address()),
        data: Default::default(),
        height: 0,
        prove: true,
    })) {
        response::Value::Query(q) => {
            assert_eq!(q.code, 0, "{}", q.log);
            assert_eq!(q.height, 6);
            let op = &q.proof_ops.as_ref().expect("a proof").ops[0];
            assert_eq!(op.r#type, "jmt:v1");
            let proof = decode_proof(&op.data).unwrap();
            verify_proof(reference[5], &q.key, Some(&q.value), &proof).expect("the proof verifies");
        }
        other => panic!("{other:?}"),
    }

    // FinalizeBlock of height 7, and the node dies before Commit.
    let (time7, txs7) = &chain[6];
    let f7 = block(&mut consensus, 7, *time7, txs7, false);
    assert_eq!(f7.app_hash.to_vec(), reference[6].to_vec());
    drop((query, mempool, consensus));
    let home_path = node.kill_9();
    // Restarted, it reports its last committed block; CometBFT replays 7 on.
    let node = Node::start(&home_path, &address_of(&home_path));
    let mut consensus = node.connect();
    let i = info(&mut consensus);
    assert_eq!(i.last_block_height, 6);
    assert_eq!(i.last_block_app_hash.to_vec(), reference[5].to_vec());
    for (h, (time, txs)) in chain.iter().enumerate().skip(6) {
        let f = block(&mut consensus, h as i64 + 1, *time, txs, true);
        assert_eq!(
            f.app_hash.to_vec(),
            reference[h].to_vec(),
            "height {} after restart",
            h + 1
        );
    }
    let i = info(&mut consensus);
    assert_eq!(i.last_block_height as usize, chain.len());
}

#[test]
fn over_tcp_the_node_follows_cometbft_through_blocks_a_kill_and_a_replay() {
    drive(|_| ANY_TCP_PORT.to_string());
}

#[test]
fn over_a_unix_socket_too() {
    drive(|home| format!("unix://{}/abci.sock", home.display()));
}

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
