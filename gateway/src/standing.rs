//! A gateway serves only what it can audit. Before any records or documents
//! leave, two things must hold: the chain still takes this gateway's
//! disclosure log (it is an active gateway service of an active member), and
//! the log is not stuck (no disclosure has waited for the chain longer than
//! the allowed lag). Otherwise the answer is 503 `audit_unavailable` with the
//! reason — reads resume by themselves once the log flows again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{
    MemberStatus, Organisation, Participant, ParticipantKind, ParticipantStatus, ServiceKind,
};
use tokio_postgres::Client;

use crate::error::{ErrorCode, Failure};
use crate::Gateway;

/// How long a verdict (standing on chain, log lag) is reused, so that reads
/// do not each ask the chain and the database: a suspension or a stuck log
/// takes effect within this time.
const STANDING_TTL: Duration = Duration::from_secs(2);

/// Why the chain would not take this gateway's disclosure log now.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
struct Unauditable(String);

#[derive(Default)]
pub struct Standing {
    checked: Mutex<Option<(Instant, Result<(), Unauditable>)>>,
}

fn unavailable(reason: Unauditable) -> Failure {
    Failure::new(
        ErrorCode::AuditUnavailable,
        format!("this gateway cannot log disclosures on chain, so it serves nothing: {reason}"),
    )
}

/// Whether the chain takes this gateway's disclosure log now: `Err` with the
/// reason when not.
async fn registered(g: &Gateway) -> Result<Result<(), Unauditable>, Failure> {
    let me = g.key.address();
    let mut view = g.chain.latest().await?;
    let p: Option<Participant> = view.get(&keys::participant(&me)).await?;
    let verdict = match p {
        None => Err(Unauditable(format!(
            "its key {me} is not registered on chain"
        ))),
        Some(p)
            if p.kind != ParticipantKind::Service as i32
                || p.service_kind != ServiceKind::Gateway as i32 =>
        {
            Err(Unauditable(format!(
                "{me} is not registered as a gateway service"
            )))
        }
        Some(p) if p.status != ParticipantStatus::Active as i32 => Err(Unauditable(format!(
            "the gateway service {me} is suspended"
        ))),
        Some(p) => {
            let org: Option<Organisation> = view.get(&keys::organisation(&p.org_id)).await?;
            match org {
                Some(o) if o.status == MemberStatus::Active as i32 => Ok(()),
                _ => Err(Unauditable(format!(
                    "its organisation {} is no longer an active member",
                    p.org_id
                ))),
            }
        }
    };
    Ok(verdict)
}

/// Whether the oldest disclosure still waiting for the chain waited too long.
async fn log_flows(g: &Gateway, db: &Client) -> Result<Result<(), Unauditable>, Failure> {
    let limit = g.audit_lag_limit.as_secs() as i64;
    let row = db
        .query_one(
            "SELECT count(*), max(last_error) FILTER (WHERE last_error IS NOT NULL)
             FROM gateway.disclosures
             WHERE status <> 'committed' AND disclosed_at < extract(epoch FROM now())::bigint - $1",
            &[&limit],
        )
        .await?;
    let stuck: i64 = row.get(0);
    if stuck == 0 {
        return Ok(Ok(()));
    }
    let last: Option<String> = row.get(1);
    Ok(Err(Unauditable(format!(
        "{stuck} disclosure(s) have waited more than {limit} s for the chain (last answer: {})",
        last.unwrap_or_else(|| "none yet".into())
    ))))
}

/// Both checks, their verdict reused for `STANDING_TTL`; called before
/// anything is served. Failing to ask (chain or database down) is not cached.
pub async fn can_audit(g: &Gateway, db: &Client) -> Result<(), Failure> {
    let cached = g
        .standing
        .checked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let verdict = match cached {
        Some((at, verdict)) if at.elapsed() < STANDING_TTL => verdict,
        _ => {
            let verdict = match registered(g).await? {
                Ok(()) => log_flows(g, db).await?,
                refused => refused,
            };
            *g.standing.checked.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((Instant::now(), verdict.clone()));
            verdict
        }
    };
    verdict.map_err(unavailable)
}
