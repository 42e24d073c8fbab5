//! A CometBFT stand-in for the node's tests: `ehr-node start` as a real
//! process, and its four connections spoken to with CometBFT v0.38's wire
//! protocol (varint-framed protobuf, a Flush after each request).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ehr_ledger::mock_consensus::{consortium_genesis, TestNode, GENESIS_TIME};
use ehr_node::abci::proto::{request, response, Request, Response, *};
use ehr_node::abci::wire::encode_frame;
use ehr_testkit::world::workload::blocks;
use ehr_testkit::world::*;
use prost::Message;
use tendermint_proto::google::protobuf::Timestamp;

pub trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// One of CometBFT's connections to the app.
pub struct Conn(pub Box<dyn Stream>);

pub fn read_varint_frame(s: &mut dyn Stream) -> std::io::Result<Vec<u8>> {
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
    pub fn send(&mut self, value: request::Value) {
        let bytes = Request { value: Some(value) }.encode_to_vec();
        self.0.write_all(&encode_frame(&bytes)).unwrap();
    }

    pub fn receive(&mut self) -> std::io::Result<response::Value> {
        let frame = read_varint_frame(&mut *self.0)?;
        Ok(Response::decode(frame.as_slice()).unwrap().value.unwrap())
    }

    /// A request and its Flush, as CometBFT's socket client sends them.
    pub fn call(&mut self, value: request::Value) -> response::Value {
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

pub struct Node {
    pub child: Child,
    pub address: String,
    pub home: PathBuf,
}

impl Node {
    /// Starts `ehr-node start` on `address` (tcp://127.0.0.1:0 picks a free
    /// port) and learns the address it bound from its first line of output.
    pub fn start(home: &Path, address: &str) -> Node {
        Self::start_within(home, address, None)
    }

    /// With its address space limited to `kib` KiB (`ulimit -v`) when given.
    pub fn start_within(home: &Path, address: &str, kib: Option<u64>) -> Node {
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

    pub fn try_connect(&self) -> Option<Conn> {
        if let Some(path) = self.address.strip_prefix("unix://") {
            UnixStream::connect(path).ok().map(|s| Conn(Box::new(s)))
        } else {
            TcpStream::connect(self.address.trim_start_matches("tcp://"))
                .ok()
                .map(|s| Conn(Box::new(s)))
        }
    }

    pub fn connect(&self) -> Conn {
        self.try_connect().expect("connects")
    }

    pub fn kill_9(mut self) -> PathBuf {
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
pub const ANY_TCP_PORT: &str = "tcp://127.0.0.1:0";

pub fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

pub fn info(c: &mut Conn) -> ResponseInfo {
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

pub fn init_chain(c: &mut Conn) -> ResponseInitChain {
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
pub fn block(
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
pub fn stream(count: usize) -> Vec<(i64, Vec<Vec<u8>>)> {
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
pub fn reference_hashes(stream: &[(i64, Vec<Vec<u8>>)]) -> Vec<[u8; 32]> {
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
