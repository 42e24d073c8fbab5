//! Anchoring: each pending batch's Merkle root goes on chain in an
//! `anchor_batch` transaction; the batch is marked committed with its height
//! once the chain confirms it. When the chain cannot be reached, batches stay
//! pending and are retried; ingest itself carries on.

use std::time::Duration;

use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, AnchorBatch, StoredBatchAnchor};
use ehr_ledger::rpc::RpcClient;
use ehr_ledger::tx::sign_tx;
use ehr_ledger::Code;

use crate::store::{Batch, Store};

pub struct Anchorer {
    pub rpc: RpcClient,
    pub key: SecretKey,
    pub runtime: tokio::runtime::Runtime,
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// (batch id, height, when the batch was written, unix ms)
    pub committed: Vec<(i64, i64, i64)>,
    pub failed: Option<String>,
}

impl Anchorer {
    /// Anchors pending batches in order until one fails; returns what happened.
    pub fn round(&self, store: &mut Store) -> Result<Round, crate::store::StoreError> {
        let mut round = Round::default();
        for batch in store.pending(100)? {
            match self.anchor(&batch) {
                Ok((height, tx)) => {
                    store.mark_committed(batch.batch_id, height, &tx)?;
                    round
                        .committed
                        .push((batch.batch_id, height, batch.created_at_ms));
                }
                Err(error) => {
                    tracing::warn!(batch = batch.batch_id, %error, "anchoring failed; the batch stays pending");
                    store.mark_attempt_failed(batch.batch_id, &error)?;
                    round.failed = Some(error);
                    break;
                }
            }
        }
        Ok(round)
    }

    /// Sends the batch's anchor and waits for its block: (height, tx hash).
    fn anchor(&self, b: &Batch) -> Result<(i64, String), String> {
        self.runtime.block_on(async {
            let status = self.rpc.status().await.map_err(|e| e.to_string())?;
            let nonce = self.rpc.next_nonce(&self.key.address()).await.map_err(|e| e.to_string())?;
            let action = Kind::AnchorBatch(AnchorBatch {
                batch_id: b.batch_id as u64,
                merkle_root: b.merkle_root.to_vec(),
                record_count: b.record_count as u32,
                first_record: b.first_record as u64,
                last_record: b.last_record as u64,
            });
            let tx = sign_tx(&self.key, &status.node_info.network, nonce, action);
            let r = self.rpc.broadcast_tx_commit(&tx).await.map_err(|e| e.to_string())?;
            let result = if r.check_tx.code != 0 { &r.check_tx } else { &r.tx_result };
            match Code::from_u32(result.code) {
                Some(Code::Ok) => Ok((r.height.parse().unwrap_or(0), r.hash.clone())),
                // Sent before a crash and confirmed since: adopt it if it is ours.
                Some(Code::BatchExists) => {
                    let path = format!("/batch/{}/{}", self.key.address(), b.batch_id);
                    let on_chain: StoredBatchAnchor = self.rpc.query(&path).await.map_err(|e| e.to_string())?.unwrap_or_default();
                    if on_chain.merkle_root == b.merkle_root {
                        Ok((on_chain.height, String::new()))
                    } else {
                        Err(format!("batch id {} is already anchored with another root: the database and the chain disagree", b.batch_id))
                    }
                }
                _ => Err(format!("refused with code {}: {}", result.code, result.log)),
            }
        })
    }

    /// Anchors until `stop` is set, backing off while the chain is unreachable.
    pub fn run(
        &self,
        store: &mut Store,
        stop: &std::sync::atomic::AtomicBool,
        metrics: &crate::metrics::Metrics,
    ) {
        let mut backoff = Duration::from_millis(200);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match self.round(store) {
                Ok(round) => {
                    let now_ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    for (_, _, written_ms) in &round.committed {
                        metrics.batch_committed((now_ms - written_ms) as f64 / 1000.0);
                    }
                    backoff = if round.failed.is_some() {
                        (backoff * 2).min(Duration::from_secs(10))
                    } else {
                        Duration::from_millis(200)
                    };
                }
                Err(error) => {
                    tracing::error!(%error, "the database failed while anchoring; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
            if let Ok(pending) = store.pending(10_000) {
                metrics.set_pending(pending.len() as i64);
            }
            std::thread::sleep(backoff);
        }
    }
}
