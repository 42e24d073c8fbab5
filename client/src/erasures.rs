//! The chain's erasures, followed by their ids (docs/ledger.md, erasure).
//!
//! Every service that keeps a patient's ciphertexts (ingest's readings, a
//! gateway's documents) carries out each erasure the ledger numbered, in
//! order: `erasure/<n>` read with a state proof against a header the
//! validators signed, its absence proven too. Events only say when to look;
//! following the numbers means a node that hides an event, or a service
//! started after an erasure, still erases — nothing is skipped.

use ehr_ledger::ledger::keys;
use ehr_ledger::proto::Erasure;

use crate::rpc::proven::{ProvenError, ProvenState};

/// The erasure after `done` (the last one carried out here, 0 for none),
/// proven against the newest signed header; `None` when the ledger holds
/// none yet.
pub async fn next_after(chain: &ProvenState, done: u64) -> Result<Option<Erasure>, ProvenError> {
    let mut view = chain.latest().await?;
    let next: Option<Erasure> = view.get(&keys::erasure(done + 1)).await?;
    // The entry stored under that number is that number's (the ledger writes
    // them so); one that says otherwise is not acted on.
    Ok(next.filter(|e| e.id == done + 1))
}
