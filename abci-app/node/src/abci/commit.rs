//! Commit: make the finalized block durable. Every height is kept (queries
//! with proofs at past heights), so CometBFT is asked to retain all blocks.

use super::proto::ResponseCommit;
use super::AbciError;
use ehr_ledger::ledger::Ledger;

pub fn commit(ledger: &Ledger) -> Result<ResponseCommit, AbciError> {
    let committed = ledger.commit()?;
    tracing::debug!(height = committed.height, "Commit");
    Ok(ResponseCommit { retain_height: 0 })
}
