//! Merkle paths of records to their batch roots. A batch is written once, in
//! one transaction, so its paths never change: they are computed once per
//! batch (all at once, O(n log n)) and kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ehr_ledger::crypto::merkle::{self, Hash};
use tokio_postgres::Client;

/// How many batches' paths are kept before the cache starts over.
const MAX_BATCHES: usize = 20_000;

#[derive(Default)]
pub struct Proofs {
    batches: Mutex<HashMap<i64, Arc<Vec<Vec<Hash>>>>>,
}

impl Proofs {
    /// The path of leaf `index` of `batch_id`.
    pub async fn path(
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
                let leaves = crate::store::leaves(db, batch_id).await?;
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
