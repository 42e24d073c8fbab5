//! ProcessProposal: a block holding a transaction that does not decode or
//! verify is rejected, so a faulty proposer cannot push garbage.

use super::proto::{
    response_process_proposal::ProposalStatus, RequestProcessProposal, ResponseProcessProposal,
};
use ehr_ledger::ledger::Ledger;

pub fn process_proposal(ledger: &Ledger, r: RequestProcessProposal) -> ResponseProcessProposal {
    let txs: Vec<Vec<u8>> = r.txs.iter().map(|t| t.to_vec()).collect();
    let status = match ledger.verify_proposal(&txs) {
        Ok(()) => ProposalStatus::Accept,
        Err((index, refusal)) => {
            tracing::warn!(height = r.height, index, %refusal, "rejecting a proposed block");
            ProposalStatus::Reject
        }
    };
    ResponseProcessProposal {
        status: status as i32,
    }
}
