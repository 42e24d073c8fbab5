//! Determinism: independent ledgers fed the same blocks reach the same app hash
//! at every height; a ledger closed and reopened from disk mid-way, or stopped
//! between FinalizeBlock and Commit, reaches it too.

use ehr_ledger::ledger::LedgerError;
use ehr_ledger::mock_consensus::{consortium_genesis, TestNode};
use ehr_ledger::Code;
use ehr_testkit::world::workload::{apply, blocks};
use ehr_testkit::world::*;

#[test]
fn two_ledgers_reach_the_same_app_hash_at_every_height() {
    let stream = blocks(&mut World::new(), 40);
    let (mut a, mut b) = (World::new(), World::new());
    assert_eq!(
        a.node.app_hash(),
        b.node.app_hash(),
        "same genesis and first block, same hash"
    );
    let ha = apply(&mut a.node, &stream);
    let hb = apply(&mut b.node, &stream);
    assert_eq!(ha, hb);
    // Every block changes the state, so every height has its own hash.
    let mut distinct = ha.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ha.len());
}

#[test]
fn the_workload_mixes_accepted_and_refused_transactions() {
    let stream = blocks(&mut World::new(), 12);
    let mut w = World::new();
    let mut codes = std::collections::BTreeSet::new();
    for (time, txs) in &stream {
        w.node.time = *time;
        for r in w.node.block(txs.clone()).unwrap().tx_results {
            codes.insert(r.code);
        }
    }
    assert!(codes.contains(&Code::Ok));
    assert!(codes.contains(&Code::WrongRole));
    assert!(codes.contains(&Code::TxMalformed));
}

#[test]
fn a_ledger_reopened_from_disk_mid_way_continues_to_the_same_hashes() {
    let stream = blocks(&mut World::new(), 30);
    let reference = apply(&mut World::new().node, &stream);

    let w = World::new();
    let World { mut node, dir, .. } = w;
    let first = apply(&mut node, &stream[..12]);
    assert_eq!(first, reference[..12]);
    let path = node.path().to_path_buf();
    drop(node);
    let mut reopened = TestNode::reopen(&path).unwrap();
    assert_eq!(reopened.height(), 13, "registration block plus twelve");
    assert_eq!(reopened.app_hash(), reference[11]);
    let rest = apply(&mut reopened, &stream[12..]);
    assert_eq!(rest, reference[12..]);
    drop(dir);
}

#[test]
fn a_block_finalized_but_not_committed_is_replayed_to_the_same_hash() {
    let stream = blocks(&mut World::new(), 10);
    let reference = apply(&mut World::new().node, &stream);

    let World { mut node, dir, .. } = World::new();
    apply(&mut node, &stream[..5]);
    // The node stops after FinalizeBlock of the next block, before Commit.
    let (time, txs) = &stream[5];
    let height = node.height() + 1;
    let finalized = node.ledger.finalize_block(height, *time, txs).unwrap();
    assert_eq!(finalized.app_hash, reference[5]);
    let path = node.path().to_path_buf();
    drop(node);
    // On restart it reports the last committed block; the replay gets the same hash.
    let mut restarted = TestNode::reopen(&path).unwrap();
    assert_eq!(restarted.height(), height - 1);
    assert_eq!(restarted.app_hash(), reference[4]);
    let rest = apply(&mut restarted, &stream[5..]);
    assert_eq!(rest, reference[5..]);
    drop(dir);
}

#[test]
fn blocks_out_of_order_are_refused_without_touching_state() {
    let w = World::new();
    let before = w.node.app_hash();
    let h = w.node.height();
    let err = w
        .node
        .ledger
        .finalize_block(h + 2, w.now(), &[])
        .unwrap_err();
    assert!(matches!(err, LedgerError::OutOfOrder { .. }), "{err}");
    let err = w.node.ledger.finalize_block(h, w.now(), &[]).unwrap_err();
    assert!(matches!(err, LedgerError::OutOfOrder { .. }), "{err}");
    assert!(matches!(
        w.node.ledger.commit(),
        Err(LedgerError::NothingToCommit)
    ));
    assert_eq!(w.node.app_hash(), before);
}

#[test]
fn init_chain_is_repeatable_before_the_first_block_and_refuses_another_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let genesis = consortium_genesis(&ORGS);
    let first = TestNode::init(&path, CHAIN, &genesis).unwrap().app_hash();
    let elsewhere = tempfile::tempdir().unwrap();
    let twin = TestNode::init(&elsewhere.path().join("ledger.redb"), CHAIN, &genesis)
        .unwrap()
        .app_hash();
    assert_eq!(first, twin, "genesis is deterministic");
    // CometBFT calls InitChain again if the node stopped before block 1.
    let again = TestNode::init(&path, CHAIN, &genesis).unwrap().app_hash();
    assert_eq!(first, again);
    let other = consortium_genesis(&["general", "north"]);
    assert!(matches!(
        TestNode::init(&path, CHAIN, &other),
        Err(LedgerError::GenesisMismatch(_))
    ));
}

#[test]
fn a_genesis_that_cannot_work_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let mut g = consortium_genesis(&ORGS);
    g.validators[0].operator_org = "nowhere".into();
    let err = TestNode::init(&path, CHAIN, &g).err().expect("refused");
    assert!(err.to_string().contains("not a founding member"), "{err}");
    let mut g = consortium_genesis(&ORGS);
    g.members[1].admin_public_key = g.members[0].admin_public_key.clone();
    assert!(TestNode::init(&path, CHAIN, &g).is_err());
    let mut g = consortium_genesis(&ORGS);
    g.validators[0].pub_key = "00".repeat(32);
    let err = TestNode::init(&path, CHAIN, &g).err().expect("refused");
    assert!(err.to_string().contains("ed25519"), "{err}");
    assert!(ehr_ledger::ledger::Genesis::from_json(b"{\"members\": 3}").is_err());
}
