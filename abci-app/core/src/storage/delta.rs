//! Pending writes layered over the committed state.
//!
//! A block's transactions run against a `BlockState`: reads see the current
//! transaction's writes, then the block's earlier ones, then the committed
//! snapshot. A transaction's writes join the block only when it succeeds, so a
//! refused transaction leaves nothing behind. Ordered maps keep everything
//! derived from the writes (the tree update, scans) deterministic.

use std::collections::BTreeMap;
use std::ops::Bound;

use prost::Message;

use super::{Entries, Snapshot, StorageError};

type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Typed reads of state, shared by execution and queries.
pub trait StateRead {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Every (key, value) under `prefix`, in key order, at most `limit`.
    fn scan_raw(&self, prefix: &[u8], limit: usize) -> Result<Entries, StorageError>;

    fn get<M: Message + Default>(&self, key: &[u8]) -> Result<Option<M>, StorageError> {
        match self.get_raw(key)? {
            None => Ok(None),
            Some(bytes) => M::decode(bytes.as_slice()).map(Some).map_err(|e| {
                StorageError::Database(format!(
                    "stored value under {} does not decode: {e}",
                    String::from_utf8_lossy(key)
                ))
            }),
        }
    }

    fn scan<M: Message + Default>(
        &self,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<M>, StorageError> {
        self.scan_raw(prefix, limit)?
            .into_iter()
            .map(|(k, v)| {
                M::decode(v.as_slice()).map_err(|e| {
                    StorageError::Database(format!(
                        "stored value under {} does not decode: {e}",
                        String::from_utf8_lossy(&k)
                    ))
                })
            })
            .collect()
    }
}

impl StateRead for Snapshot {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(key)
    }

    fn scan_raw(&self, prefix: &[u8], limit: usize) -> Result<Entries, StorageError> {
        self.read_prefix(prefix, limit)
    }
}

pub struct BlockState {
    base: Snapshot,
    block: Writes,
    tx: Writes,
}

impl BlockState {
    pub fn new(base: Snapshot) -> Self {
        Self {
            base,
            block: Writes::new(),
            tx: Writes::new(),
        }
    }

    pub fn put<M: Message>(&mut self, key: impl Into<Vec<u8>>, value: &M) {
        self.tx.insert(key.into(), Some(value.encode_to_vec()));
    }

    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.tx.insert(key.into(), None);
    }

    /// The committed state the block started from.
    pub fn base(&self) -> &Snapshot {
        &self.base
    }

    /// Keeps the current transaction's writes as part of the block.
    pub fn commit_tx(&mut self) {
        let tx = std::mem::take(&mut self.tx);
        self.block.extend(tx);
    }

    /// Drops the current transaction's writes.
    pub fn discard_tx(&mut self) {
        self.tx.clear();
    }

    /// The block's writes, for the tree update (any open transaction is dropped).
    pub fn into_writes(self) -> Writes {
        self.block
    }
}

impl StateRead for BlockState {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = self.tx.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.block.get(key) {
            return Ok(v.clone());
        }
        self.base.read(key)
    }

    fn scan_raw(&self, prefix: &[u8], limit: usize) -> Result<Entries, StorageError> {
        // Overlay writes can delete base entries, so read enough of the base to
        // still return `limit` entries after deletions.
        let pending =
            overlay_range(&self.block, prefix).count() + overlay_range(&self.tx, prefix).count();
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self
            .base
            .read_prefix(prefix, limit.saturating_add(pending))?
            .into_iter()
            .collect();
        for layer in [&self.block, &self.tx] {
            for (k, v) in overlay_range(layer, prefix) {
                match v {
                    Some(v) => merged.insert(k.clone(), v.clone()),
                    None => merged.remove(k),
                };
            }
        }
        Ok(merged.into_iter().take(limit).collect())
    }
}

fn overlay_range<'a>(
    layer: &'a Writes,
    prefix: &'a [u8],
) -> impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)> + 'a {
    layer
        .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(move |(k, _)| k.starts_with(prefix))
}
