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
    rpc: RpcClient,
    key: SecretKey,
    runtime: tokio::runtime::Runtime,
    flight: Flight,
}

/// What the anchorer has sent that the chain has not settled yet.
#[derive(Default)]
struct Flight {
    /// Anchors submitted and not yet seen in a block, oldest first.
    sent: Vec<Sent>,
    /// The nonce of the next anchor, while anchors are in flight; asked of
    /// the chain when none are.
    next_nonce: Option<u64>,
}

/// An anchor in the mempool.
struct Sent {
    batch: Batch,
    hash: [u8; 32],
    hex_hash: String,
    at: std::time::Instant,
}

/// A batch and what became of its anchor: (height, tx hash) or why not.
type Settled = (Batch, Result<(i64, String), AnchorError>);

/// A batch pending longer than this is logged as stuck, once a minute.
const STUCK_AFTER_SECS: i64 = 300;

/// How long a submitted anchor may take to reach a block.
const COMMIT_WITHIN: Duration = Duration::from_secs(60);

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
    /// Anchors submitted this round.
    pub submitted: usize,
    pub failed: Option<String>,
}

impl Anchorer {
    pub fn new(rpc: RpcClient, key: SecretKey, runtime: tokio::runtime::Runtime) -> Anchorer {
        Anchorer {
            rpc,
            key,
            runtime,
            flight: Flight::default(),
        }
    }

    /// One round: marks what the chain has confirmed since the last round,
    /// then submits the pending batches not yet in flight, oldest first, with
    /// consecutive nonces (many share a block). Submitting never waits for a
    /// block, so a batch written meanwhile goes out in the next round rather
    /// than after the anchors before it are confirmed. Stops submitting at the
    /// first refusal.
    pub fn round(&mut self, store: &mut Store) -> Result<Round, crate::store::StoreError> {
        let mut round = Round::default();
        let mut flight = std::mem::take(&mut self.flight);
        let settled = self.runtime.block_on(self.settled(&mut flight));
        self.flight = flight;
        self.record(store, settled, &mut round)?;
        let in_flight: Vec<i64> = self.flight.sent.iter().map(|s| s.batch.batch_id).collect();
        let new: Vec<Batch> = store
            .pending(100)?
            .into_iter()
            .filter(|b| !in_flight.contains(&b.batch_id))
            .collect();
        if new.is_empty() {
            return Ok(round);
        }
        let mut flight = std::mem::take(&mut self.flight);
        let (adopted, failure) = self
            .runtime
            .block_on(self.submit(&mut flight, new, &mut round));
        self.flight = flight;
        self.record(store, adopted, &mut round)?;
        if let Some((batch_id, error)) = failure {
            let error = error.to_string();
            tracing::warn!(batch = batch_id, %error, "anchoring failed; the batch stays pending");
            store.mark_attempt_failed(batch_id, &error)?;
            round.failed.get_or_insert(error);
        }
        Ok(round)
    }

    /// Writes what became of anchors: committed, or failed (then the batch
    /// stays pending, and the next nonce is asked of the chain again).
    fn record(
        &mut self,
        store: &mut Store,
        outcomes: Vec<Settled>,
        round: &mut Round,
    ) -> Result<(), crate::store::StoreError> {
        for (batch, outcome) in outcomes {
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
                    self.flight.next_nonce = None;
                    round.failed.get_or_insert(error);
                }
            }
        }
        Ok(())
    }

    /// The anchors in flight that the chain has settled (in a block, or given
    /// up on after a minute); the others stay in flight.
    async fn settled(&self, flight: &mut Flight) -> Vec<Settled> {
        let mut out = Vec::new();
        let mut still = Vec::new();
        for sent in std::mem::take(&mut flight.sent) {
            let outcome = match self.rpc.tx(&sent.hash).await {
                Ok(info) => Some(match Code::from_u32(info.tx_result.code) {
                    Some(Code::Ok) => Ok((info.height.parse().unwrap_or(0), sent.hex_hash.clone())),
                    Some(Code::BatchExists) => self.adopt(&sent.batch).await,
                    _ => Err(AnchorError::RefusedInBlock {
                        code: info.tx_result.code,
                        log: info.tx_result.log,
                    }),
                }),
                Err(_) if sent.at.elapsed() > COMMIT_WITHIN => Some(Err(AnchorError::NotCommitted)),
                Err(_) => None,
            };
            match outcome {
                Some(o) => out.push((sent.batch, o)),
                None => still.push(sent),
            }
        }
        flight.sent = still;
        out
    }

    /// Submits anchors for `batches`; returns those settled at once (already
    /// anchored before a crash: adopted), and the batch at which submission
    /// stopped, with why.
    async fn submit(
        &self,
        flight: &mut Flight,
        batches: Vec<Batch>,
        round: &mut Round,
    ) -> (Vec<Settled>, Option<(i64, AnchorError)>) {
        let mut out = Vec::new();
        let first = batches[0].batch_id;
        // While anchors are in flight after a failure, their nonces are
        // unknown: wait until they settle before numbering new ones.
        if flight.next_nonce.is_none() && !flight.sent.is_empty() {
            return (out, None);
        }
        let (chain_id, mut nonce) = match async {
            let status = self.rpc.status().await?;
            let nonce = match flight.next_nonce {
                Some(n) => n,
                None => self.rpc.next_nonce(&self.key.address()).await?,
            };
            Ok::<_, ehr_client::rpc::RpcError>((status.node_info.network, nonce))
        }
        .await
        {
            Ok(x) => x,
            Err(e) => return (out, Some((first, e.into()))),
        };
        let mut stopped = None;
        for b in batches {
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
                    round.submitted += 1;
                    flight.sent.push(Sent {
                        batch: b,
                        hash: ehr_ledger::crypto::sha256(&tx),
                        hex_hash: r.hash,
                        at: std::time::Instant::now(),
                    });
                }
                Ok(r) if r.code == Code::BatchExists as u32 => {
                    let adopted = self.adopt(&b).await;
                    out.push((b, adopted));
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
        flight.next_nonce = if stopped.is_some() { None } else { Some(nonce) };
        (out, stopped)
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
        &mut self,
        store: &mut Store,
        stop: &std::sync::atomic::AtomicBool,
        metrics: &crate::metrics::Metrics,
    ) {
        let mut backoff = Duration::from_millis(200);
        let mut warned_at_minute = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match self.round(store) {
                Ok(round) => {
                    let now_ms = ehr_client::service::now_ms();
                    for (_, _, written_ms) in &round.committed {
                        metrics.batch_committed((now_ms - written_ms) as f64 / 1000.0);
                    }
                    // Busy: look again soon (anchors in flight are checked
                    // each round); idle: a little later; failing: back off.
                    backoff = if round.failed.is_some() {
                        (backoff * 2).min(Duration::from_secs(10))
                    } else if round.submitted > 0 || !self.flight.sent.is_empty() {
                        Duration::from_millis(50)
                    } else {
                        Duration::from_millis(100)
                    };
                }
                Err(error) => {
                    tracing::error!(%error, "the database failed while anchoring; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    if let Err(error) = store.reconnect_if_lost() {
                        tracing::warn!(%error, "the database is not back yet");
                    }
                }
            }
            if let (Ok(pending), Ok(oldest)) = (store.pending_count(), store.oldest_pending_secs())
            {
                metrics.set_pending(pending, oldest);
                if oldest > STUCK_AFTER_SECS && oldest / 60 != warned_at_minute {
                    warned_at_minute = oldest / 60;
                    tracing::warn!(pending, oldest_secs = oldest, "batches wait for the chain longer than 5 minutes: is the chain down, or was the database restored from an old backup (see last_error in ingest.batches)?");
                }
            }
            std::thread::sleep(backoff);
        }
    }
}
