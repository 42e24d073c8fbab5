//! The Jellyfish Merkle tree's nodes and versioned values, kept in redb.

use borsh::BorshDeserialize;
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

use super::{db_err, StorageError};

/// borsh(NodeKey) → borsh(Node).
pub(super) const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
/// key hash (32) ‖ version (8, big-endian) → 0x00 (deleted) | 0x01 ‖ value.
pub(super) const VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_values");

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
        let txn = db.begin_read().map_err(db_err)?;
        Ok(Self {
            nodes: txn.open_table(NODES).map_err(db_err)?,
            values: txn.open_table(VALUES).map_err(db_err)?,
        })
    }
}

impl TreeReader for TreeSnapshot {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let key = borsh::to_vec(node_key)?;
        match self.nodes.get(key.as_slice())? {
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

pub(super) fn write_node_batch(
    txn: &WriteTransaction,
    batch: &NodeBatch,
) -> Result<(), StorageError> {
    let mut nodes = txn.open_table(NODES).map_err(db_err)?;
    for (key, node) in batch.nodes() {
        let k = borsh::to_vec(key).map_err(db_err)?;
        let v = borsh::to_vec(node).map_err(db_err)?;
        nodes.insert(k.as_slice(), v.as_slice()).map_err(db_err)?;
    }
    let mut values = txn.open_table(VALUES).map_err(db_err)?;
    for ((version, key_hash), value) in batch.values() {
        let k = value_key(key_hash, *version);
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
