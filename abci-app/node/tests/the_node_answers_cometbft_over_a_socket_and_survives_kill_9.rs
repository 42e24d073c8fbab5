//! `ehr-node start` as a real process, driven over a real socket with
//! CometBFT v0.38's wire protocol, as a CometBFT node would: the Info
//! handshake, InitChain, blocks of PrepareProposal / ProcessProposal /
//! FinalizeBlock / Commit with a Flush after each request, CheckTx new and
//! recheck, Query with proofs; then kill -9 between FinalizeBlock and Commit,
//! restart, and replay to the same app hash.

mod common;

use std::path::Path;

use ehr_ledger::ledger::query::decode_proof;
use ehr_ledger::storage::verify_proof;
use ehr_ledger::Code;
use ehr_node::abci::proto::{request, response, *};
use ehr_testkit::world::*;

use common::*;

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
