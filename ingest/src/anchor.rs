//! Anchoring: each pending batch's Merkle root goes on chain in an
//! `anchor_batch` transaction; the batch is marked committed with its height
//! once the chain confirms it. When the chain cannot be reached, batches stay
//! pending and are retried; ingest itself carries on.

use std::time::Duration;

use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, AnchorBatch, StoredBatchAnchor};
use ehr_ledger::tx::sign_tx;
use ehr_ledger::Code;

use crate::store::{Batch, Store};

pub struct Anchorer {
    pub rpc: RpcClient,
    pub key: SecretKey,
    pub runtime: tokio::runtime::Runtime,
}

/// Why a batch is not anchored yet; kept with the batch in PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error(transparent)]
    Chain(#[from] ehr_client::rpc::RpcError),
    #[error("refused with code {code}: {log}")]
    Refused { code: u32, log: String },
    #[error("refused in its block with code {code}: {log}")]
    RefusedInBlock { code: u32, log: String },
    #[error("not committed within 60 s")]
    NotCommitted,
    #[error(
        "batch id {0} is already anchored with another root: the database and the chain disagree"
    )]
    OtherRoot(i64),
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// (batch id, height, when the batch was written, unix ms)
    pub committed: Vec<(i64, i64, i64)>,
    pub failed: Option<String>,
}

impl Anchorer {
    /// Anchors the pending batches, oldest first: every anchor is submitted
    /// with consecutive nonces (so many batches share one block), then each is
    /// marked committed as the chain confirms it. Stops at the first failure.
    pub fn round(&self, store: &mut Store) -> Result<Round, crate::store::StoreError> {
        let mut round = Round::default();
        let pending = store.pending(100)?;
        if pending.is_empty() {
            return Ok(round);
        }
        let (sent, failure) = self.submit(&pending);
        for (batch, outcome) in sent {
            match outcome {
                Ok((height, tx)) => {
                    store.mark_committed(
                        batch.batch_id,
                        height,
                        &tx,
                        &self.key.address().to_string(),
                    )?;
                    round
                        .committed
                        .push((batch.batch_id, height, batch.created_at_ms));
                }
                Err(error) => {
                    let error = error.to_string();
                    store.mark_attempt_failed(batch.batch_id, &error)?;
                    round.failed.get_or_insert(error);
                }
            }
        }
        if let Some((batch_id, error)) = failure {
            let error = error.to_string();
            tracing::warn!(batch = batch_id, %error, "anchoring failed; the batch stays pending");
            store.mark_attempt_failed(batch_id, &error)?;
            round.failed.get_or_insert(error);
        }
        Ok(round)
    }

    /// Submits the anchors; returns each submitted batch with its outcome, and
    /// the batch at which submission stopped, with why.
    #[allow(clippy::type_complexity)]
    fn submit<'b>(
        &self,
        pending: &'b [Batch],
    ) -> (
        Vec<(&'b Batch, Result<(i64, String), AnchorError>)>,
        Option<(i64, AnchorError)>,
    ) {
        self.runtime.block_on(async {
            let mut out = Vec::new();
            let (chain_id, mut nonce) = match async {
                let status = self.rpc.status().await?;
                let nonce = self.rpc.next_nonce(&self.key.address()).await?;
                Ok::<_, ehr_client::rpc::RpcError>((status.node_info.network, nonce))
            }
            .await
            {
                Ok(x) => x,
                Err(e) => return (out, Some((pending[0].batch_id, e.into()))),
            };
            let mut waiting = Vec::new();
            let mut stopped = None;
            for b in pending {
                let action = Kind::AnchorBatch(AnchorBatch {
                    batch_id: b.batch_id as u64,
                    merkle_root: b.merkle_root.to_vec(),
                    record_count: b.record_count as u32,
                    first_record: b.first_record as u64,
                    last_record: b.last_record as u64,
                });
                let tx = sign_tx(&self.key, &chain_id, nonce, action);
                match self.rpc.broadcast_tx_sync(&tx).await {
                    Ok(r) if r.code == 0 => {
                        nonce += 1;
                        waiting.push((b, ehr_ledger::crypto::sha256(&tx), r.hash));
                    }
                    Ok(r) if r.code == Code::BatchExists as u32 => {
                        out.push((b, self.adopt(b).await))
                    }
                    Ok(r) => {
                        stopped = Some((
                            b.batch_id,
                            AnchorError::Refused {
                                code: r.code,
                                log: r.log,
                            },
                        ));
                        break;
                    }
                    Err(e) => {
                        stopped = Some((b.batch_id, e.into()));
                        break;
                    }
                }
            }
            for (b, hash, hex_hash) in waiting {
                out.push((b, self.confirmed(b, &hash, hex_hash).await));
            }
            (out, stopped)
        })
    }

    /// Waits for a submitted anchor's block.
    async fn confirmed(
        &self,
        b: &Batch,
        hash: &[u8; 32],
        hex_hash: String,
    ) -> Result<(i64, String), AnchorError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(info) = self.rpc.tx(hash).await {
                return match Code::from_u32(info.tx_result.code) {
                    Some(Code::Ok) => Ok((info.height.parse().unwrap_or(0), hex_hash)),
                    Some(Code::BatchExists) => self.adopt(b).await,
                    _ => Err(AnchorError::RefusedInBlock {
                        code: info.tx_result.code,
                        log: info.tx_result.log,
                    }),
                };
            }
            if std::time::Instant::now() > deadline {
                return Err(AnchorError::NotCommitted);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An anchor sent before a crash and confirmed since: adopt it if it is ours.
    async fn adopt(&self, b: &Batch) -> Result<(i64, String), AnchorError> {
        let path = format!("/batch/{}/{}", self.key.address(), b.batch_id);
        let on_chain: StoredBatchAnchor = self.rpc.query(&path).await?.unwrap_or_default();
        if on_chain.merkle_root == b.merkle_root {
            Ok((on_chain.height, String::new()))
        } else {
            Err(AnchorError::OtherRoot(b.batch_id))
        }
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
                    let now_ms = ehr_client::service::now_ms();
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
