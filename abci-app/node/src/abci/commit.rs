//! Commit: make the finalized block durable. Every height is kept (queries
//! with proofs at past heights), so CometBFT is asked to retain all blocks.

use super::proto::ResponseCommit;
use ehr_ledger::ledger::Ledger;

pub fn commit(ledger: &mut Ledger) -> Result<ResponseCommit, String> {
    let committed = ledger.commit().map_err(|e| e.to_string())?;
    tracing::debug!(height = committed.height, "Commit");
    Ok(ResponseCommit { retain_height: 0 })
}
