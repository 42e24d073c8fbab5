//! Merkle paths of records to their batch roots, from wherever the batch
//! keeps them: derived from one slice of the batch's block tree
//! (`ingest.batch_trees`, every batch written since it existed); the path
//! stored with the record (batches written before); or rebuilt from the
//! batch's leaves (the oldest records, stored before paths were) — computed
//! once per batch, all at once, and kept, since a batch never changes.
//! What the reader proves is the same for all three: the path is checked
//! against the root anchored on chain, never trusted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ehr_ledger::crypto::block_tree::{self, Layout};
use ehr_ledger::crypto::merkle::{self, Hash};
use tokio_postgres::Client;

use crate::store::{self, StoredRecord};

/// How many batches' rebuilt paths are kept before the cache starts over.
const MAX_BATCHES: usize = 20_000;

#[derive(Default)]
pub struct Proofs {
    batches: Mutex<HashMap<i64, Arc<Vec<Vec<Hash>>>>>,
}

impl Proofs {
    /// Each anchored record's path (leaf to root), in the order of
    /// `records`; `None` for a record not anchored yet, or whose stored path
    /// or tree slice is not one of its batch (the reader is told it could not
    /// be proven). Every tree slice of the page in one query.
    pub async fn paths(
        &self,
        db: &Client,
        records: &[StoredRecord],
    ) -> Result<Vec<Option<Vec<Hash>>>, tokio_postgres::Error> {
        let mut paths = vec![None; records.len()];
        let mut from_trees = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let Some((_, _, _, count)) = &r.anchored else {
                continue;
            };
            let (size, index) = (usize::try_from(*count), usize::try_from(r.leaf_index));
            let (Ok(size), Ok(index)) = (size, index) else {
                continue;
            };
            if let Some(stored) = r.merkle_path.as_deref().filter(|p| p.len() % 32 == 0) {
                paths[i] = Some(
                    stored
                        .chunks(32)
                        .map(|h| h.try_into().expect("32-byte chunks"))
                        .collect(),
                );
            } else if let Some(bits) = r.block_bits {
                // The slice of its block: where it starts and how long, as
                // the query takes them.
                let slice = u32::try_from(bits)
                    .ok()
                    .and_then(|b| Layout::new(size, b))
                    .and_then(|l| {
                        let range = l.slice_of(index)?;
                        let start = i32::try_from(range.start).ok()?;
                        Some((l, (r.batch_id, start, i32::try_from(range.len()).ok()?)))
                    });
                if let Some((layout, wanted)) = slice {
                    from_trees.push((i, index, layout, wanted));
                }
            } else {
                paths[i] = self.rebuilt(db, r.batch_id, index).await?;
            }
        }
        let mut wanted: Vec<(i64, i32, i32)> = from_trees.iter().map(|t| t.3).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let slices: HashMap<(i64, i32), Vec<u8>> = if wanted.is_empty() {
            HashMap::new()
        } else {
            store::tree_slices(db, &wanted).await?.into_iter().collect()
        };
        for (i, index, layout, (batch, start, _)) in from_trees {
            paths[i] = slices
                .get(&(batch, start))
                .and_then(|slice| block_tree::path_from(slice, &layout, index))
                .map(|(_, path)| path);
        }
        Ok(paths)
    }

    /// The path of leaf `index` of `batch_id`, rebuilt from its leaves.
    async fn rebuilt(
        &self,
        db: &Client,
        batch_id: i64,
        index: usize,
    ) -> Result<Option<Vec<Hash>>, tokio_postgres::Error> {
        let known = self
            .batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&batch_id)
            .cloned();
        let paths = match known {
            Some(p) => p,
            None => {
                let leaves = store::leaves(db, batch_id).await?;
                let paths = Arc::new(merkle::proofs(&leaves));
                let mut cache = self.batches.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= MAX_BATCHES {
                    cache.clear();
                }
                cache.insert(batch_id, paths.clone());
                paths
            }
        };
        Ok(paths.get(index).cloned())
    }
}
