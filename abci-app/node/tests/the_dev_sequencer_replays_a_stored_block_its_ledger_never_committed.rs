//! The dev sequencer writes a block to its block store before the ledger
//! applies it. If it dies in between, the next start must apply that block,
//! record its results, and serve it — and must refuse to start when the block
//! store is behind the ledger (a damaged data folder).

use ehr_ledger::ledger::genesis::CometGenesis;
use ehr_ledger::mock_consensus::consortium_genesis;
use ehr_node::sequencer::blockstore::{base64_encode, StoredBlock};
use ehr_node::sequencer::{Config, Sequencer};
use ehr_testkit::world::*;

fn genesis() -> CometGenesis {
    CometGenesis {
        genesis_time: "2026-01-01T00:00:00Z".into(),
        chain_id: CHAIN.into(),
        initial_height: serde_json::json!("1"),
        app_state: serde_json::to_value(consortium_genesis(&ORGS)).unwrap(),
        rest: Default::default(),
    }
}

#[test]
fn a_block_stored_but_not_committed_is_applied_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = actor("admin@general");
    let seq = Sequencer::open(Config::new(dir.path()), Some(&genesis())).unwrap();
    let first = admin.tx(register_staff(
        actor("doctor@general").public_key(),
        ehr_ledger::proto::Role::Doctor,
    ));
    assert_eq!(seq.submit(first).unwrap().code, 0);
    assert_eq!(seq.produce_block(false).unwrap(), Some(1));
    // The sequencer stored block 2 and died before its ledger applied it.
    let second = admin.tx(register_staff(
        actor("nurse@general").public_key(),
        ehr_ledger::proto::Role::Nurse,
    ));
    seq.store()
        .put(&StoredBlock {
            height: 2,
            time: 1_767_225_700,
            txs: vec![base64_encode(&second)],
            results: None,
            app_hash: String::new(),
        })
        .unwrap();
    assert_eq!(seq.ledger().status().unwrap().unwrap().block_height, 1);
    drop(seq);

    let seq = Sequencer::open(Config::new(dir.path()), None).unwrap();
    let status = seq.ledger().status().unwrap().unwrap();
    assert_eq!(status.block_height, 2, "the stored block was applied");
    let block = seq.store().get(2).unwrap().unwrap();
    let results = block.results.expect("results recorded");
    assert_eq!(results[0].code, 0, "{}", results[0].log);
    assert_eq!(block.app_hash, hex::encode_upper(status.app_hash));
    let hash = ehr_ledger::crypto::sha256(&second);
    assert_eq!(seq.store().find_tx(&hash).unwrap(), Some((2, 0)));
    // And it goes on making blocks.
    assert_eq!(seq.produce_block(true).unwrap(), Some(3));
}

#[test]
fn a_new_chain_without_genesis_and_a_damaged_folder_are_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let err = Sequencer::open(Config::new(dir.path()), None)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("--genesis"), "{err}");

    let seq = Sequencer::open(Config::new(dir.path()), Some(&genesis())).unwrap();
    for _ in 0..3 {
        seq.produce_block(true).unwrap();
    }
    drop(seq);
    let store_path = dir.path().join("data/blocks.redb");
    let kept = ehr_node::sequencer::blockstore::BlockStore::open(&store_path)
        .unwrap()
        .get(1)
        .unwrap()
        .unwrap();

    // A block store that stops short of the ledger: refused, with the reason.
    std::fs::remove_file(&store_path).unwrap();
    ehr_node::sequencer::blockstore::BlockStore::open(&store_path)
        .unwrap()
        .put(&kept)
        .unwrap();
    let err = Sequencer::open(Config::new(dir.path()), None)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("damaged"), "{err}");

    // No block store at all: the chain goes on, without the old blocks to serve.
    std::fs::remove_file(&store_path).unwrap();
    let seq = Sequencer::open(Config::new(dir.path()), None).unwrap();
    assert!(seq.store().get(1).unwrap().is_none());
    assert_eq!(seq.produce_block(true).unwrap(), Some(4));
}
