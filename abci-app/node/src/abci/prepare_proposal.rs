//! PrepareProposal: the proposer keeps, within the size limit, the mempool's
//! transactions that still apply, and drops the rest.

use super::proto::{RequestPrepareProposal, ResponsePrepareProposal};
use super::unix_seconds;
use super::AbciError;
use ehr_ledger::ledger::Ledger;

pub fn prepare_proposal(
    ledger: &Ledger,
    r: RequestPrepareProposal,
) -> Result<ResponsePrepareProposal, AbciError> {
    let txs: Vec<Vec<u8>> = r.txs.iter().map(|t| t.to_vec()).collect();
    let max = u64::try_from(r.max_tx_bytes).unwrap_or(0);
    let kept = ledger.prepare_proposal(&txs, max, unix_seconds(r.time))?;
    if kept.len() < txs.len() {
        tracing::info!(
            height = r.height,
            offered = txs.len(),
            kept = kept.len(),
            "PrepareProposal dropped transactions that no longer apply or do not fit"
        );
    }
    Ok(ResponsePrepareProposal {
        txs: kept.into_iter().map(Into::into).collect(),
    })
}
