//! The disclosure log. Every answer that serves records first writes one row
//! per category served to `gateway.disclosures` (the outbox); the logger sends
//! them to the chain as `log_disclosures` transactions, many per transaction
//! and many transactions per block, and marks them committed once their
//! entries are proven in the patients' audit trails: each entry read with a
//! state proof against the app hash after the block, from a header the
//! validators signed, and matched to the row it logs. A node's word that the
//! transaction was committed is not enough — "serve only what can be audited"
//! must hold against a lying node too. A crash loses nothing: what was served
//! is in the outbox.
//!
//! Each row carries the caller's signed request it answered, which the
//! ledger checks, and its id, which the ledger logs once: a transaction sent
//! and not found on chain 30 s later is sent again, and a row that was in it
//! after all is skipped — each disclosure is in its patient's trail exactly
//! once, never zero times.

use std::time::Duration;

use ehr_client::rpc::proven::{ProvenError, ProvenState, View};
use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::{Address, SecretKey};
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{
    action::Kind, AuditEntry, AuditKind, Category, Counter, Disclosure, LogDisclosures, Purpose,
    SignedRequest,
};
use ehr_ledger::tx::sign_tx;
use ehr_ledger::tx::validate::{MAX_DISCLOSURES_PER_TX, MAX_RECORD_IDS_PER_DISCLOSURE};
use ehr_ledger::tx::MAX_TX_BYTES;
use prost::Message;
use tokio_postgres::Client;

/// Bytes of disclosures per transaction, under the ledger's 64 KiB limit
/// (`MAX_TX_BYTES`) with room for the envelope.
const TX_BUDGET: usize = MAX_TX_BYTES - 8 * 1024;
/// Bytes of record ids per outbox row: a large read is logged as several
/// disclosures, so that every row fits in a transaction.
const ROW_BUDGET: usize = 16 * 1024;
/// Transactions sent per round (consecutive nonces, so they share a block).
const MAX_TXS_PER_ROUND: usize = 10;
/// A sent transaction not on chain after this is sent again.
const RESEND_AFTER_SECS: f64 = 30.0;

pub struct NewDisclosure {
    pub accessor: Address,
    pub patient: Address,
    pub category: Category,
    pub purpose: Purpose,
    pub record_ids: Vec<String>,
    pub disclosed_at: i64,
    /// The caller's signed request it answers, which the ledger checks.
    pub request: SignedRequest,
}

/// Whether the chain will take `d` from `gateway` as it stands (checked
/// before anything is served): a request the ledger would read otherwise
/// than the gateway did — a parameter twice, percent-encoded, too long —
/// is refused here with the ledger's own reason, never served unlogged.
pub fn loggable(d: &NewDisclosure, gateway: &Address) -> Result<(), crate::error::Failure> {
    let probe = Disclosure {
        accessor: d.accessor.0.to_vec(),
        patient: d.patient.0.to_vec(),
        record_ids: d.record_ids.clone(),
        purpose: d.purpose as i32,
        disclosed_at: d.disclosed_at,
        category: d.category as i32,
        request: Some(d.request.clone()),
        // Any id: the row's is given when it is written.
        outbox_id: 1,
    };
    // The request's key was proven to sign for the accessor when the request
    // was authenticated (`identity::signs_for`); the ledger checks it again
    // against its state.
    let key = ehr_ledger::crypto::PublicKey::from_bytes(&d.request.public_key).map(|k| k.address());
    let identity_of = |k: &Address| Ok(if Some(*k) == key { d.accessor } else { *k });
    ehr_ledger::ledger::actions::audit::loggable(&probe, gateway, &identity_of).map_err(|r| {
        crate::error::Failure::new(
            crate::error::ErrorCode::BadParameter,
            format!(
                "this request cannot be logged in the patient's audit trail as it stands, so nothing is served: {} — send each parameter once, unencoded",
                r.message
            ),
        )
    })
}

/// Splits record ids into runs the ledger logs as one disclosure each: at
/// most `ROW_BUDGET` bytes and `MAX_RECORD_IDS_PER_DISCLOSURE` ids.
pub fn chunks(ids: &[String]) -> Vec<&[String]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, id) in ids.iter().enumerate() {
        let size = id.len() + 2;
        if i > start && (bytes + size > ROW_BUDGET || i - start == MAX_RECORD_IDS_PER_DISCLOSURE) {
            out.push(&ids[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < ids.len() {
        out.push(&ids[start..]);
    }
    out
}

/// Writes disclosures to the outbox (a large read as several rows); the rows' ids.
pub async fn record(
    db: &Client,
    items: &[NewDisclosure],
) -> Result<Vec<i64>, tokio_postgres::Error> {
    let mut ids = Vec::with_capacity(items.len());
    let rows: Vec<(&NewDisclosure, Vec<String>)> = items
        .iter()
        .flat_map(|d| {
            chunks(&d.record_ids)
                .into_iter()
                .map(move |c| (d, c.to_vec()))
        })
        .collect();
    for (d, record_ids) in rows {
        let row = db
            .query_one(
                "INSERT INTO gateway.disclosures (accessor, patient, category, purpose, record_ids, disclosed_at, request)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &d.accessor.to_string(),
                    &d.patient.to_string(),
                    &(d.category as i16),
                    &(d.purpose as i16),
                    &record_ids,
                    &d.disclosed_at,
                    &d.request.encode_to_vec(),
                ],
            )
            .await?;
        ids.push(row.get(0));
    }
    Ok(ids)
}

/// How many disclosures wait for the chain, and how many are on it.
pub async fn counts(db: &Client) -> Result<(i64, i64), tokio_postgres::Error> {
    let r = db
        .query_one(
            "SELECT count(*) FILTER (WHERE status <> 'committed'), count(*) FILTER (WHERE status = 'committed')
             FROM gateway.disclosures",
            &[],
        )
        .await?;
    Ok((r.get(0), r.get(1)))
}

struct Open {
    id: i64,
    accessor: String,
    patient: String,
    category: i16,
    purpose: i16,
    record_ids: Vec<String>,
    disclosed_at: i64,
    request: Vec<u8>,
    /// Sent before and not logged: sent alone from now on, so that a row
    /// the chain refuses holds up no other.
    alone: bool,
}

fn to_disclosure(o: &Open) -> Option<Disclosure> {
    Some(Disclosure {
        accessor: o.accessor.parse::<Address>().ok()?.0.to_vec(),
        patient: o.patient.parse::<Address>().ok()?.0.to_vec(),
        record_ids: o.record_ids.clone(),
        purpose: i32::from(o.purpose),
        disclosed_at: o.disclosed_at,
        category: i32::from(o.category),
        request: Some(SignedRequest::decode(o.request.as_slice()).ok()?),
        outbox_id: u64::try_from(o.id).ok()?,
    })
}

/// Why a round of the disclosure log could not finish; the round is tried
/// again, nothing is lost (the outbox keeps every disclosure).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("no database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error(transparent)]
    Chain(#[from] ehr_client::rpc::RpcError),
    #[error(transparent)]
    Unproven(#[from] ProvenError),
    #[error("refused by the mempool with code {code}: {log}")]
    Refused { code: u32, log: String },
}

pub struct Logger {
    pub rpc: RpcClient,
    pub key: SecretKey,
}

impl Logger {
    /// Logs until the process ends, backing off while the chain or the
    /// database cannot be reached.
    pub async fn run(
        &self,
        pool: &deadpool_postgres::Pool,
        chain: &ProvenState,
        interval: Duration,
    ) {
        let mut backoff = interval;
        loop {
            let result = match pool.get().await {
                Ok(db) => self.round(&db, chain).await,
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(_) => backoff = interval,
                Err(e) => {
                    tracing::warn!(error = %e, "disclosures wait for the chain");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// One round: settle what was sent, then send what is pending. Returns how
    /// many disclosures were committed.
    pub async fn round(&self, db: &Client, chain: &ProvenState) -> Result<u64, LogError> {
        let committed = self.settle(db, chain).await?;
        let in_flight: i64 = db
            .query_one(
                "SELECT count(*) FROM gateway.disclosures WHERE status = 'sent'",
                &[],
            )
            .await?
            .get(0);
        if in_flight == 0 {
            self.send_pending(db).await?;
        }
        Ok(committed)
    }

    /// Checks every sent transaction: committed (its entries proven in the
    /// trails), refused (pending again, with the reason) or lost (pending
    /// again after a while).
    async fn settle(&self, db: &Client, chain: &ProvenState) -> Result<u64, LogError> {
        let sent = db
            .query(
                "SELECT tx_hash, extract(epoch FROM now() - sent_at)::float8 FROM gateway.disclosures
                 WHERE status = 'sent' GROUP BY tx_hash, sent_at",
                &[],
            )
            .await?;
        let mut committed = 0;
        // One proven view of the newest state serves every transaction of
        // the round (trail entries never change once written).
        let mut view = None;
        for row in sent {
            let hash: String = row.get(0);
            let age: f64 = row.get(1);
            let Some(h) = hex::decode(&hash)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            else {
                continue;
            };
            match self.rpc.tx(&h).await {
                Ok(info) if info.tx_result.code == 0 => {
                    let height: i64 = info.height.parse().unwrap_or(0);
                    // A failure to prove one transaction (its node behind, a
                    // height pruned) holds up neither the others nor new logs.
                    if view.is_none() {
                        view = chain
                            .latest()
                            .await
                            .map_err(|e| tracing::warn!(error = %e, "the chain's newest state cannot be proven yet"))
                            .ok();
                    }
                    let proven = match view.as_mut() {
                        None => false,
                        Some(view) => match self.in_trails(db, view, &hash).await {
                            Ok(proven) => proven,
                            Err(e) => {
                                tracing::warn!(tx = %hash, error = %e, "a disclosure log's entries could not be proven yet");
                                false
                            }
                        },
                    };
                    if !proven {
                        // Not proven (yet): still sent; sent again if it never is.
                        if age > RESEND_AFTER_SECS {
                            self.back_to_pending(
                                db,
                                &hash,
                                "said to be committed, but its audit entries are not proven on chain",
                            )
                            .await?;
                        }
                        continue;
                    }
                    committed += db
                        .execute(
                            "UPDATE gateway.disclosures SET status = 'committed', height = $2, last_error = NULL
                             WHERE status = 'sent' AND tx_hash = $1",
                            &[&hash, &height],
                        )
                        .await?;
                }
                Ok(info) => {
                    let reason = format!(
                        "refused with code {}: {}",
                        info.tx_result.code, info.tx_result.log
                    );
                    tracing::warn!(tx = %hash, %reason, "a disclosure log was refused; it will be sent again");
                    self.back_to_pending(db, &hash, &reason).await?;
                }
                Err(_) if age > RESEND_AFTER_SECS => {
                    self.back_to_pending(db, &hash, "not on chain 30 s after it was sent")
                        .await?;
                }
                Err(_) => {}
            }
        }
        Ok(committed)
    }

    /// Whether every disclosure sent in transaction `hash` is an entry of its
    /// patient's trail, proven against the app hash of a header the
    /// validators signed: the ledger's record of this gateway's id of the row
    /// names the entry, and the entry holds the row — accessor, records,
    /// time, category, purpose, this gateway, this id. Read from proven state,
    /// not from the block's events, so it holds however the row reached the
    /// trail (a row sent again is skipped by the ledger; its entry stands).
    async fn in_trails(
        &self,
        db: &Client,
        view: &mut View<'_>,
        hash: &str,
    ) -> Result<bool, LogError> {
        let rows = db
            .query(
                "SELECT id, accessor, patient, record_ids, disclosed_at, category, purpose
                 FROM gateway.disclosures WHERE status = 'sent' AND tx_hash = $1",
                &[&hash],
            )
            .await?;
        let me = self.key.address();
        let logged: Vec<String> = rows
            .iter()
            .map(|r| keys::logged_disclosure(&me, r.get::<_, i64>(0).unsigned_abs()))
            .collect();
        view.prove(logged.iter().map(|k| k.clone().into_bytes()))
            .await?;
        let mut entry_keys = Vec::with_capacity(rows.len());
        for (r, k) in rows.iter().zip(&logged) {
            let (Some(at), Ok(patient)) = (
                view.get::<Counter>(k).await?,
                r.get::<_, String>(2).parse::<Address>(),
            ) else {
                return Ok(false);
            };
            entry_keys.push(keys::audit_entry(&patient, at.next));
        }
        view.prove(entry_keys.iter().map(|k| k.clone().into_bytes()))
            .await?;
        for (r, k) in rows.iter().zip(&entry_keys) {
            let (id, accessor, patient, record_ids, disclosed_at, category, purpose): (
                i64,
                String,
                String,
                Vec<String>,
                i64,
                i16,
                i16,
            ) = (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
            );
            let (Ok(accessor), Ok(patient)) =
                (accessor.parse::<Address>(), patient.parse::<Address>())
            else {
                return Ok(false);
            };
            let holds = view.get::<AuditEntry>(k).await?.is_some_and(|e| {
                e.kind == AuditKind::Disclosure as i32
                    && e.logged_by == me.0
                    && e.outbox_id == id.unsigned_abs()
                    && e.patient == patient.0
                    && e.accessor == accessor.0
                    && e.record_ids == record_ids
                    && e.disclosed_at == disclosed_at
                    && e.category == i32::from(category)
                    && e.purpose == i32::from(purpose)
            });
            if !holds {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn back_to_pending(&self, db: &Client, hash: &str, reason: &str) -> Result<(), LogError> {
        db.execute(
            "UPDATE gateway.disclosures SET status = 'pending', tx_hash = NULL, sent_at = NULL,
                    attempts = attempts + 1, last_error = $2
             WHERE status = 'sent' AND tx_hash = $1",
            &[&hash, &reason],
        )
        .await?;
        Ok(())
    }

    async fn send_pending(&self, db: &Client) -> Result<(), LogError> {
        // A row without the caller's signed request (written by hand, or
        // before requests were kept) can never be logged: it waits, and
        // stops all serving once it waits too long, with this reason.
        db.execute(
            "UPDATE gateway.disclosures SET last_error = $1
             WHERE status = 'pending' AND request IS NULL AND last_error IS NULL",
            &[&"it carries no signed request of its reader, and the chain logs no disclosure without one"],
        )
        .await?;
        let limit = (MAX_DISCLOSURES_PER_TX * MAX_TXS_PER_ROUND) as i64;
        let rows = db
            .query(
                "SELECT id, accessor, patient, category, purpose, record_ids, disclosed_at, request,
                        attempts > 0
                 FROM gateway.disclosures WHERE status = 'pending' AND request IS NOT NULL
                 ORDER BY id LIMIT $1",
                &[&limit],
            )
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let open: Vec<Open> = rows
            .into_iter()
            .map(|r| Open {
                id: r.get(0),
                accessor: r.get(1),
                patient: r.get(2),
                category: r.get(3),
                purpose: r.get(4),
                record_ids: r.get(5),
                disclosed_at: r.get(6),
                request: r.get(7),
                alone: r.get(8),
            })
            .collect();
        // Group into transactions under both limits.
        let mut groups: Vec<Vec<&Open>> = vec![vec![]];
        let mut bytes_in_group = 0;
        for o in &open {
            let size = to_disclosure(o).map_or(0, |d| d.encoded_len() + 4);
            let full = groups.last().is_some_and(|g| {
                g.len() == MAX_DISCLOSURES_PER_TX
                    || bytes_in_group + size > TX_BUDGET
                    || (!g.is_empty() && (o.alone || g.iter().any(|p| p.alone)))
            });
            if full {
                groups.push(vec![]);
                bytes_in_group = 0;
            }
            bytes_in_group += size;
            if let Some(g) = groups.last_mut() {
                g.push(o);
            }
        }
        let chain_id = self.rpc.chain_id().await?;
        let mut nonce = self.rpc.next_nonce(&self.key.address()).await?;
        // A refused transaction holds up no other of the round (its nonce
        // was not used); the round reports it at the end.
        let mut refusal = None;
        for group in groups.iter().filter(|g| !g.is_empty()) {
            let disclosures: Vec<Disclosure> =
                group.iter().filter_map(|o| to_disclosure(o)).collect();
            let ids: Vec<i64> = group.iter().map(|o| o.id).collect();
            let tx = sign_tx(
                &self.key,
                &chain_id,
                nonce,
                Kind::LogDisclosures(LogDisclosures { disclosures }),
            );
            let hash = hex::encode(ehr_ledger::crypto::sha256(&tx));
            // Marked sent before it is sent: after a crash, settle() finds it by hash.
            db.execute(
                "UPDATE gateway.disclosures SET status = 'sent', tx_hash = $2, sent_at = now() WHERE id = ANY($1)",
                &[&ids, &hash],
            )
            .await?;
            match self.rpc.broadcast_tx_sync(&tx).await {
                Ok(r) if r.code == 0 => nonce += 1,
                Ok(r) => {
                    let refused = LogError::Refused {
                        code: r.code,
                        log: r.log,
                    };
                    self.back_to_pending(db, &hash, &refused.to_string())
                        .await?;
                    refusal = Some(refused);
                }
                Err(e) => {
                    self.back_to_pending(db, &hash, &e.to_string()).await?;
                    return Err(e.into());
                }
            }
        }
        refusal.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_reads_are_split_into_rows_that_fit_a_transaction() {
        let ids: Vec<String> = (0..1000).map(|i| format!("h:{i:040}")).collect();
        let parts = chunks(&ids);
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), ids);
        for p in &parts {
            assert!(p.iter().map(|i| i.len() + 2).sum::<usize>() <= ROW_BUDGET);
        }
        let few = vec!["hr-1:1".to_string()];
        assert_eq!(chunks(&few), vec![&few[..]]);
        // Short ids: the ledger's count bounds a disclosure before its bytes do.
        let short: Vec<String> = (0..2_500).map(|i| format!("hr-1:{i}")).collect();
        let parts = chunks(&short);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![1_000, 1_000, 500]
        );
        assert_eq!(parts.concat(), short);
        assert!(chunks(&[]).is_empty());
    }
}
