//! Pruning: a node that keeps the last N heights reaches the same app hash
//! as an archive node at every height, proves every key at every height of
//! its window against the archive's app hashes, refuses older heights with
//! the reason, and holds far fewer tree rows — across a restart too.

use ehr_ledger::ledger::QueryCode;
use ehr_ledger::storage::verify_proof;
use ehr_testkit::world::workload::{apply, blocks, prove_every_key, pruning};
use ehr_testkit::world::*;

const WINDOW: u64 = 10;

#[test]
fn a_pruning_node_agrees_with_an_archive_node_and_proves_its_window() {
    let stream = blocks(&mut World::new(), 80);
    let mut archive = World::new();
    let mut pruned = World::new();
    pruned.node = pruned.node.reopen_with(pruning(WINDOW)).unwrap();

    let a = apply(&mut archive.node, &stream[..40]);
    let p = apply(&mut pruned.node, &stream[..40]);
    assert_eq!(a, p, "pruning changes no app hash");
    // Restarted with the same flag, it goes on pruning.
    pruned.node = pruned.node.reopen_with(pruning(WINDOW)).unwrap();
    let a = [a, apply(&mut archive.node, &stream[40..])].concat();
    let p = [p, apply(&mut pruned.node, &stream[40..])].concat();
    assert_eq!(a, p);

    let latest = pruned.node.height();
    assert_eq!(latest, 81);
    let earliest = latest + 1 - WINDOW;
    assert_eq!(pruned.node.ledger.storage().earliest().unwrap(), earliest);

    // Every key the state has, proven at every height of the window against
    // the archive's app hash of that height (hashes[i] is height i + 2).
    let keys = prove_every_key(&pruned.node, earliest..=latest, |h| a[(h - 2) as usize]);
    assert!(keys > 100, "a state of some size: {keys}");

    let refused = pruned
        .node
        .ledger
        .query("/store", b"chain", earliest - 1, true);
    assert_eq!(refused.code, QueryCode::HeightUnavailable);
    assert!(
        refused
            .log
            .contains(&format!("keeps heights from {earliest}")),
        "{}",
        refused.log
    );
    let kept = archive.node.ledger.query("/store", b"chain", 2, true);
    assert_eq!(
        kept.code,
        QueryCode::Ok,
        "the archive node keeps everything"
    );

    let full = archive.node.ledger.storage().tree_rows().unwrap();
    let small = pruned.node.ledger.storage().tree_rows().unwrap();
    assert!(
        small.nodes * 2 < full.nodes && small.values * 2 < full.values,
        "pruned {small:?} against archive {full:?}"
    );
    eprintln!("rows after {latest} heights: archive {full:?}, last {WINDOW} heights {small:?}");
}

#[test]
fn pruning_turned_on_for_a_long_history_catches_up_and_keeps_agreeing() {
    let stream = blocks(&mut World::new(), 50);
    let mut archive = World::new();
    let mut node = World::new();
    let a = apply(&mut archive.node, &stream[..40]);
    assert_eq!(apply(&mut node.node, &stream[..40]), a);
    let before = node.node.ledger.storage().tree_rows().unwrap();
    node.node = node.node.reopen_with(pruning(WINDOW)).unwrap();
    assert_eq!(
        apply(&mut node.node, &stream[40..]),
        apply(&mut archive.node, &stream[40..])
    );
    let after = node.node.ledger.storage().tree_rows().unwrap();
    assert!(
        after.nodes < before.nodes,
        "{after:?} against {before:?} before"
    );
    let latest = node.node.height();
    let root = node.node.app_hash();
    let (value, proof) = node
        .node
        .ledger
        .storage()
        .get_with_proof(b"chain", latest)
        .unwrap();
    verify_proof(root, b"chain", value.as_deref(), &proof).unwrap();
}
