//! Tree nodes are kept under their version first, big-endian (so a block's
//! nodes are appended to full pages). A store written before — nodes under
//! borsh(NodeKey), whose version is little-endian — moves its nodes and its
//! index of stale nodes once, when opened: same app hash, every key proven
//! at every height against the hashes of a store that never moved, the same
//! hashes from the next blocks on, and pruning still finds what is stale.

use std::path::Path;

use ehr_ledger::mock_consensus::TestNode;
use ehr_testkit::world::workload::{apply, blocks, prove_every_key, pruning};
use ehr_testkit::world::*;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;
const NODES: Table = TableDefinition::new("jmt_nodes_v2");
const STALE: Table = TableDefinition::new("jmt_stale_v2");
const LEGACY_NODES: Table = TableDefinition::new("jmt_nodes");
const LEGACY_STALE: Table = TableDefinition::new("jmt_stale");

/// borsh(NodeKey) of a node keyed version (8, big-endian) ‖ nibbles (1) ‖
/// nibbles packed: version (u64 LE) ‖ number of nibbles (u64 LE) ‖ length
/// of the packed bytes (u32 LE) ‖ the packed bytes.
fn borsh_node_key(key: &[u8]) -> Vec<u8> {
    let version = u64::from_be_bytes(key[..8].try_into().unwrap());
    let packed = &key[9..];
    let mut k = Vec::new();
    k.extend_from_slice(&version.to_le_bytes());
    k.extend_from_slice(&u64::from(key[8]).to_le_bytes());
    k.extend_from_slice(&(packed.len() as u32).to_le_bytes());
    k.extend_from_slice(packed);
    k
}

/// Rewrites a closed store's nodes and stale index as they were kept before.
fn rewrite_as_before(path: &Path, extra_legacy_node: Option<&[u8]>) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let nodes = txn.open_table(NODES).unwrap();
        let mut legacy = txn.open_table(LEGACY_NODES).unwrap();
        for e in nodes.iter().unwrap() {
            let (k, v) = e.unwrap();
            legacy
                .insert(borsh_node_key(k.value()).as_slice(), v.value())
                .unwrap();
        }
        if let Some(k) = extra_legacy_node {
            legacy.insert(k, [0u8].as_slice()).unwrap();
        }
        let stale = txn.open_table(STALE).unwrap();
        let mut legacy = txn.open_table(LEGACY_STALE).unwrap();
        for e in stale.iter().unwrap() {
            let (k, _) = e.unwrap();
            let k = k.value();
            let before = match k[8] {
                0 => [&k[..9], borsh_node_key(&k[9..]).as_slice()].concat(),
                _ => k.to_vec(),
            };
            legacy.insert(before.as_slice(), [].as_slice()).unwrap();
        }
    }
    assert!(txn.delete_table(NODES).unwrap());
    assert!(txn.delete_table(STALE).unwrap());
    txn.commit().unwrap();
}

fn rows(path: &Path, table: Table) -> Option<u64> {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let rows = match txn.open_table(table) {
        Ok(t) => Some(t.len().unwrap()),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => panic!("{e}"),
    };
    rows
}

/// Closes the world's ledger; its folder stays (with the path).
fn close(mut world: World) -> (std::path::PathBuf, tempfile::TempDir) {
    let path = world.node.path().to_path_buf();
    let dir = world.dir.take().expect("a world in a folder of its own");
    drop(world);
    (path, dir)
}

#[test]
fn an_old_store_is_moved_when_opened_and_proves_every_key_at_every_height() {
    let stream = blocks(&mut World::new(), 60);
    let mut reference = World::new();
    let mut old = World::new();
    let mut hashes = apply(&mut reference.node, &stream[..40]);
    assert_eq!(apply(&mut old.node, &stream[..40]), hashes);

    let (path, _dir) = close(old);
    let (nodes, stale) = (rows(&path, NODES).unwrap(), rows(&path, STALE).unwrap());
    assert!(
        nodes > 1_000 && stale > 1_000,
        "{nodes} nodes, {stale} stale"
    );
    rewrite_as_before(&path, None);
    assert_eq!(rows(&path, NODES), None);
    assert_eq!(rows(&path, LEGACY_NODES), Some(nodes));

    let mut moved = TestNode::reopen(&path).unwrap();
    assert_eq!(moved.app_hash(), *hashes.last().unwrap());
    let keys = prove_every_key(&moved, [2, 10, 25, 41], |h| hashes[(h - 2) as usize]);
    assert!(keys > 100, "a state of some size: {keys}");

    // The same hashes from the next blocks on; then, pruned to a window,
    // what the moved index says is stale is deleted.
    hashes.extend(apply(&mut reference.node, &stream[40..]));
    assert_eq!(apply(&mut moved, &stream[40..50]), hashes[40..50]);
    let before = moved.ledger.storage().tree_rows().unwrap();
    let mut moved = moved.reopen_with(pruning(5)).unwrap();
    assert_eq!(apply(&mut moved, &stream[50..]), hashes[50..]);
    let after = moved.ledger.storage().tree_rows().unwrap();
    assert!(
        after.nodes < before.nodes / 2 && after.stale < before.stale / 2,
        "pruned: {after:?}, before: {before:?}"
    );
    assert_eq!(
        moved.ledger.storage().earliest().unwrap(),
        moved.height() - 4
    );
    let path = moved.path().to_path_buf();
    drop(moved);
    assert_eq!(rows(&path, LEGACY_NODES), None, "the old tables are gone");
    assert_eq!(rows(&path, LEGACY_STALE), None);
}

#[test]
fn an_old_store_with_a_key_that_is_no_node_key_is_refused_with_the_reason() {
    let stream = blocks(&mut World::new(), 5);
    // Of no version; of version 1 with more nibbles than a path has; of
    // version 1 with fewer bytes than its nibbles need.
    let key = |nibbles: u64, path: &[u8]| {
        let length = (path.len() as u32).to_le_bytes();
        [
            &1u64.to_le_bytes()[..],
            &nibbles.to_le_bytes(),
            &length,
            path,
        ]
        .concat()
    };
    let lying_count = key(200, &[0xab]);
    let short_path = key(4, &[0xab]);
    for bad in [&b"not a node key"[..], &lying_count, &short_path] {
        let mut old = World::new();
        apply(&mut old.node, &stream);
        let (path, _dir) = close(old);
        rewrite_as_before(&path, Some(bad));
        let err = TestNode::reopen(&path)
            .err()
            .expect("an unreadable old node is refused");
        assert!(err.to_string().contains("state database"), "{err}");
        // Nothing moved: the old tables are as they were.
        assert!(rows(&path, LEGACY_NODES).unwrap() > 0);
        assert_eq!(rows(&path, NODES), None);
    }
}
