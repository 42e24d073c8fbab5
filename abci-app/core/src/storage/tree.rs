//! The Jellyfish Merkle tree's nodes and versioned values, kept in redb,
//! with an index of what each version made stale so that old versions can
//! be pruned.

use borsh::BorshDeserialize;
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, StaleNodeIndexBatch, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

use super::{db_err, StorageError};

/// node_key(NodeKey) → borsh(Node).
pub(super) const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes_v2");
/// key hash (32) ‖ version (8, big-endian) → 0x00 (deleted) | 0x01 ‖ value.
pub(super) const VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_values");
/// What a version made stale: stale-since version (8, big-endian) ‖ 0x00 ‖
/// node_key(NodeKey) for a node, or ‖ 0x01 ‖ VALUES key for a superseded
/// value → empty. Entries stale since `v` belong only to versions before `v`.
pub(super) const STALE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_stale_v2");

/// The same two tables as stores written before `node_key` keep them: a
/// node under borsh(NodeKey), whose version comes first but little-endian.
/// `rekey_legacy_nodes` moves them once.
pub(super) const LEGACY_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
pub(super) const LEGACY_STALE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_stale");

/// A node's key: its version (8, big-endian), its number of nibbles (1, at
/// most 64) and its nibbles, two a byte — ordered as `NodeKey` is. A block's
/// nodes thus come after every earlier block's, and a block writes them in
/// that order: redb appends them to full pages. Keyed little-endian, from
/// version 256 on each block's nodes were put among older ones, splitting
/// pages that then stayed about 60 % full (docs/BENCHMARKS.md, "State
/// growth").
pub(super) fn node_key(key: &NodeKey) -> Vec<u8> {
    let path = key.nibble_path();
    let nibbles: Vec<u8> = path.nibbles().map(u8::from).collect();
    let mut k = Vec::with_capacity(9 + nibbles.len().div_ceil(2));
    k.extend_from_slice(&key.version().to_be_bytes());
    k.push(nibbles.len() as u8);
    k.extend(
        nibbles
            .chunks(2)
            .map(|pair| pair[0] << 4 | pair.get(1).copied().unwrap_or(0)),
    );
    k
}

const STALE_NODE: u8 = 0;
const STALE_VALUE: u8 = 1;

fn stale_key(since: Version, kind: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + key.len());
    k.extend_from_slice(&since.to_be_bytes());
    k.push(kind);
    k.extend_from_slice(key);
    k
}

fn value_key(key_hash: &KeyHash, version: Version) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(&key_hash.0);
    k[32..].copy_from_slice(&version.to_be_bytes());
    k
}

pub(super) struct TreeSnapshot {
    nodes: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    values: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl TreeSnapshot {
    pub(super) fn open(db: &Database) -> Result<Self, StorageError> {
        Self::within(&db.begin_read().map_err(db_err)?)
    }

    /// The tree as `txn` sees it.
    pub(super) fn within(txn: &redb::ReadTransaction) -> Result<Self, StorageError> {
        Ok(Self {
            nodes: txn.open_table(NODES).map_err(db_err)?,
            values: txn.open_table(VALUES).map_err(db_err)?,
        })
    }
}

impl TreeReader for TreeSnapshot {
    fn get_node_option(&self, key: &NodeKey) -> anyhow::Result<Option<Node>> {
        match self.nodes.get(node_key(key).as_slice())? {
            Some(bytes) => Ok(Some(Node::try_from_slice(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let from = value_key(&key_hash, 0);
        let to = value_key(&key_hash, max_version);
        let newest = self
            .values
            .range::<&[u8]>(from.as_slice()..=to.as_slice())?
            .next_back();
        match newest {
            None => Ok(None),
            Some(entry) => {
                let (_, v) = entry?;
                let v = v.value();
                match v.first() {
                    Some(1) => Ok(Some(v[1..].to_vec())),
                    _ => Ok(None),
                }
            }
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only used to resume a tree restore, which this store does not do.
        anyhow::bail!("tree restore is not supported by this store")
    }
}

/// Writes a version's nodes and values. With `stale_nodes` (a block's
/// update) it also records what the version made stale: the nodes the tree
/// replaced and each key's previous value. Without (a tree restored from a
/// snapshot, which has no earlier version) there is nothing to record, and
/// no previous value is looked up.
pub(super) fn write_node_batch(
    txn: &WriteTransaction,
    batch: &NodeBatch,
    stale_nodes: Option<&StaleNodeIndexBatch>,
) -> Result<(), StorageError> {
    let mut nodes = txn.open_table(NODES).map_err(db_err)?;
    for (key, node) in batch.nodes() {
        let v = borsh::to_vec(node).map_err(db_err)?;
        nodes
            .insert(node_key(key).as_slice(), v.as_slice())
            .map_err(db_err)?;
    }
    let mut stale = txn.open_table(STALE).map_err(db_err)?;
    for index in stale_nodes.into_iter().flatten() {
        let k = stale_key(
            index.stale_since_version,
            STALE_NODE,
            &node_key(&index.node_key),
        );
        stale.insert(k.as_slice(), [].as_slice()).map_err(db_err)?;
    }
    let mut values = txn.open_table(VALUES).map_err(db_err)?;
    for ((version, key_hash), value) in batch.values() {
        let k = value_key(key_hash, *version);
        if stale_nodes.is_some() {
            let first = value_key(key_hash, 0);
            let previous: Option<Vec<u8>> = values
                .range::<&[u8]>(first.as_slice()..k.as_slice())
                .map_err(db_err)?
                .next_back()
                .transpose()
                .map_err(db_err)?
                .map(|(key, _)| key.value().to_vec());
            if let Some(previous) = previous {
                let s = stale_key(*version, STALE_VALUE, &previous);
                stale.insert(s.as_slice(), [].as_slice()).map_err(db_err)?;
            }
        }
        let mut v = Vec::with_capacity(1 + value.as_ref().map_or(0, Vec::len));
        match value {
            Some(bytes) => {
                v.push(1);
                v.extend_from_slice(bytes);
            }
            None => v.push(0),
        }
        values.insert(k.as_slice(), v.as_slice()).map_err(db_err)?;
    }
    Ok(())
}

/// A node's key as `node_key` makes it, from the key an old store kept it
/// under, borsh(NodeKey): version (u64 LE) ‖ nibbles (u64 LE) ‖ length of
/// the path (u32 LE) ‖ the path, two nibbles a byte. Checked as jmt does not
/// (a path of at most 64 nibbles, as long as they need, an odd one's last
/// half zero): a key that is none is refused, never decoded into a panic.
fn rekeyed(legacy: &[u8]) -> Result<Vec<u8>, StorageError> {
    let bad = || db_err("an old tree node's key is not a node key (borsh(NodeKey))");
    let (version, rest) = legacy.split_first_chunk::<8>().ok_or_else(bad)?;
    let (nibbles, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
    let (length, path) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
    let nibbles = u64::from_le_bytes(*nibbles);
    let odd_tail = nibbles % 2 == 1 && path.last().is_some_and(|b| b & 0x0f != 0);
    if nibbles > 64
        || u32::from_le_bytes(*length) as usize != path.len()
        || path.len() as u64 != nibbles.div_ceil(2)
        || odd_tail
    {
        return Err(bad());
    }
    let mut k = Vec::with_capacity(9 + path.len());
    k.extend_from_slice(&u64::from_le_bytes(*version).to_be_bytes());
    k.push(nibbles as u8);
    k.extend_from_slice(path);
    Ok(k)
}

/// A store written before `node_key` gets its nodes, and the stale index's
/// entries for nodes, under their new keys (in new tables, the old ones
/// then deleted), in one transaction; whether there was anything to move.
/// Nothing else changes: node contents, and so every hash, are the same.
/// Nodes are moved a version at a time, from the first to `latest`, so that
/// the new table is written in its order and its pages are full (in the old
/// keys' order — the version's lowest byte first — they would be split).
pub(super) fn rekey_legacy_nodes(db: &Database, latest: Version) -> Result<bool, StorageError> {
    match db.begin_read().map_err(db_err)?.open_table(LEGACY_NODES) {
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
        Err(e) => return Err(db_err(e)),
        Ok(_) => {}
    }
    let txn = db.begin_write().map_err(db_err)?;
    {
        let legacy = txn.open_table(LEGACY_NODES).map_err(db_err)?;
        let mut nodes = txn.open_table(NODES).map_err(db_err)?;
        let mut moved = 0u64;
        for version in 0..=latest {
            let prefix = version.to_le_bytes();
            for entry in legacy.range::<&[u8]>(prefix.as_slice()..).map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                if !k.value().starts_with(&prefix) {
                    break;
                }
                nodes
                    .insert(rekeyed(k.value())?.as_slice(), v.value())
                    .map_err(db_err)?;
                moved += 1;
            }
        }
        if moved != legacy.len().map_err(db_err)? {
            return Err(db_err(format!(
                "the old tree holds nodes of no version up to height {latest}, or keys that are none"
            )));
        }
        let legacy = txn.open_table(LEGACY_STALE).map_err(db_err)?;
        let mut stale = txn.open_table(STALE).map_err(db_err)?;
        for entry in legacy.iter().map_err(db_err)? {
            let (k, _) = entry.map_err(db_err)?;
            let k = k.value();
            let new = match (k.get(..9), k.get(8), k.get(9..)) {
                (Some(head), Some(&STALE_NODE), Some(node)) => [head, &rekeyed(node)?].concat(),
                (Some(_), Some(_), Some(_)) => k.to_vec(),
                _ => return Err(db_err("a stale index entry shorter than its prefix")),
            };
            stale
                .insert(new.as_slice(), [].as_slice())
                .map_err(db_err)?;
        }
    }
    txn.delete_table(LEGACY_NODES).map_err(db_err)?;
    txn.delete_table(LEGACY_STALE).map_err(db_err)?;
    txn.commit().map_err(db_err)?;
    Ok(true)
}

/// Deletes the nodes and values that no version from `earliest` on needs
/// (those stale since `earliest` or before), at most `limit` of them; how
/// many it deleted. What is left over is deleted by the next call.
pub(super) fn prune(
    txn: &WriteTransaction,
    earliest: Version,
    limit: usize,
) -> Result<usize, StorageError> {
    let mut stale = txn.open_table(STALE).map_err(db_err)?;
    let end = (earliest + 1).to_be_bytes();
    let mut doomed = Vec::new();
    for entry in stale.range::<&[u8]>(..end.as_slice()).map_err(db_err)? {
        if doomed.len() >= limit {
            break;
        }
        doomed.push(entry.map_err(db_err)?.0.value().to_vec());
    }
    let mut nodes = txn.open_table(NODES).map_err(db_err)?;
    let mut values = txn.open_table(VALUES).map_err(db_err)?;
    for key in &doomed {
        match key.get(8) {
            Some(&STALE_NODE) => nodes.remove(&key[9..]).map_err(db_err)?,
            _ => values.remove(&key[9..]).map_err(db_err)?,
        };
        stale.remove(key.as_slice()).map_err(db_err)?;
    }
    Ok(doomed.len())
}

/// The hash of version `version`'s root if `batch` holds it (a restore's
/// last batch does).
pub(super) fn root_in(batch: &NodeBatch, version: Version) -> Option<[u8; 32]> {
    let (_, root) = batch
        .nodes()
        .iter()
        .find(|(key, _)| key.version() == version && key.nibble_path().is_empty())?;
    match root {
        Node::Internal(node) => Some(node.hash::<sha2::Sha256>()),
        Node::Leaf(node) => Some(node.hash::<sha2::Sha256>()),
        Node::Null => None,
    }
}
