//! Merkle paths of records to their batch roots, from wherever the batch
//! keeps them: derived from one slice of the batch's block tree
//! (`ingest.batch_trees`, every batch written since it existed — which holds
//! the record's leaf too, kept in no row since migration 017); the path
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

/// What a record's batch proves of it.
#[derive(Clone, Default)]
pub struct Proven {
    /// Its leaf, from its batch's tree (`None`: the batch keeps none, the
    /// row's own is used).
    pub leaf: Option<Hash>,
    /// Its path, leaf to root, once its batch is anchored.
    pub path: Option<Vec<Hash>>,
}

#[derive(Default)]
pub struct Proofs {
    batches: Mutex<HashMap<i64, Arc<Vec<Vec<Hash>>>>>,
}

impl Proofs {
    /// Each record's leaf from its batch's tree, and each anchored record's
    /// path (leaf to root), in the order of `records`; no path for a record
    /// not anchored yet, or whose stored path or tree slice is not one of
    /// its batch (the reader is told it could not be proven). Every tree
    /// slice of the page in one query.
    pub async fn paths(
        &self,
        db: &Client,
        records: &[StoredRecord],
    ) -> Result<Vec<Proven>, tokio_postgres::Error> {
        let mut proven = vec![Proven::default(); records.len()];
        let mut from_trees = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let (size, index) = (usize::try_from(r.leaf_count), usize::try_from(r.leaf_index));
            let (Ok(size), Ok(index)) = (size, index) else {
                continue;
            };
            let anchored = r.anchored.is_some();
            if let Some(stored) = r.merkle_path.as_deref().filter(|p| p.len() % 32 == 0) {
                if !anchored {
                    continue;
                }
                proven[i].path = Some(
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
                    from_trees.push((i, index, layout, wanted, anchored));
                }
            } else if anchored && r.ciphertext_sha256.is_some() {
                // A row of a batch from before trees keeps its leaf: the
                // path is rebuilt from its batch's rows. A later batch's row
                // keeps none, and without its tree has no path.
                proven[i].path = self.rebuilt(db, r.batch_id, index).await?;
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
        for (i, index, layout, (batch, start, _), anchored) in from_trees {
            if let Some((leaf, path)) = slices
                .get(&(batch, start))
                .and_then(|slice| block_tree::path_from(slice, &layout, index))
            {
                proven[i].leaf = Some(leaf);
                proven[i].path = anchored.then_some(path);
            }
        }
        Ok(proven)
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
                // A batch with a row that keeps no leaf cannot be rebuilt
                // (its tree was lost): no path for any of its records.
                let leaves = store::leaves(db, batch_id).await?;
                let paths = Arc::new(leaves.map(|l| merkle::proofs(&l)).unwrap_or_default());
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
