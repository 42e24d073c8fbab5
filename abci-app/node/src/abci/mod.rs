//! The ABCI 2.0 server for CometBFT v0.38: a thin layer over the ledger.
//!
//! `server` accepts CometBFT's four connections (TCP or Unix socket) and reads
//! and writes frames (`wire`); `App::handle` turns each request into a call of
//! the ledger, one file per ABCI phase as in namada's shell. The ledger itself
//! knows nothing of CometBFT's messages.

mod check_tx;
mod commit;
mod finalize_block;
mod info;
mod init_chain;
mod prepare_proposal;
mod process_proposal;
mod query;
pub mod server;
mod state_sync;
pub mod wire;

use std::sync::Arc;

use tendermint_proto::v0_38::abci::{
    request, response, ResponseEcho, ResponseException, ResponseFlush,
};

use ehr_ledger::ledger::{Event, Ledger};

pub use tendermint_proto::v0_38::abci as proto;

/// Why the application cannot answer a request: CometBFT gets an Exception
/// saying so, and stops rather than go on with a doubtful state.
#[derive(Debug, thiserror::Error)]
pub enum AbciError {
    #[error(transparent)]
    Ledger(#[from] ehr_ledger::ledger::LedgerError),
    #[error(transparent)]
    Genesis(#[from] ehr_ledger::ledger::genesis::GenesisError),
    #[error("FinalizeBlock for a negative height {0}")]
    NegativeHeight(i64),
}

/// The application CometBFT talks to. No lock of its own: the ledger's
/// parts have theirs (consensus, mempool, signature cache) and readers take
/// none, so CheckTx, Info and Query go on while a block is finalized.
#[derive(Clone)]
pub struct App {
    ledger: Arc<Ledger>,
}

impl App {
    pub fn new(ledger: Ledger) -> Self {
        Self {
            ledger: Arc::new(ledger),
        }
    }

    /// Answers one request. Never panics: a ledger failure becomes an
    /// Exception, on which CometBFT stops rather than go on with a doubtful state.
    pub fn handle(&self, request: request::Value) -> response::Value {
        let ledger = &*self.ledger;
        let answer = match request {
            request::Value::Echo(r) => {
                Ok(response::Value::Echo(ResponseEcho { message: r.message }))
            }
            request::Value::Flush(_) => Ok(response::Value::Flush(ResponseFlush {})),
            request::Value::Info(r) => info::info(ledger, r).map(response::Value::Info),
            request::Value::InitChain(r) => {
                init_chain::init_chain(ledger, r).map(response::Value::InitChain)
            }
            request::Value::Query(r) => Ok(response::Value::Query(query::query(ledger, r))),
            request::Value::CheckTx(r) => {
                check_tx::check_tx(ledger, r).map(response::Value::CheckTx)
            }
            request::Value::PrepareProposal(r) => {
                prepare_proposal::prepare_proposal(ledger, r).map(response::Value::PrepareProposal)
            }
            request::Value::ProcessProposal(r) => Ok(response::Value::ProcessProposal(
                process_proposal::process_proposal(ledger, r),
            )),
            request::Value::FinalizeBlock(r) => {
                finalize_block::finalize_block(ledger, r).map(response::Value::FinalizeBlock)
            }
            request::Value::Commit(_) => commit::commit(ledger).map(response::Value::Commit),
            request::Value::ListSnapshots(_) => Ok(response::Value::ListSnapshots(
                state_sync::list_snapshots(ledger),
            )),
            request::Value::OfferSnapshot(r) => {
                state_sync::offer_snapshot(ledger, r).map(response::Value::OfferSnapshot)
            }
            request::Value::LoadSnapshotChunk(r) => Ok(response::Value::LoadSnapshotChunk(
                state_sync::load_snapshot_chunk(ledger, r),
            )),
            request::Value::ApplySnapshotChunk(r) => {
                state_sync::apply_snapshot_chunk(ledger, r).map(response::Value::ApplySnapshotChunk)
            }
            request::Value::ExtendVote(_) => Ok(response::Value::ExtendVote(Default::default())),
            request::Value::VerifyVoteExtension(_) => Ok(response::Value::VerifyVoteExtension(
                proto::ResponseVerifyVoteExtension {
                    status: proto::response_verify_vote_extension::VerifyStatus::Accept as i32,
                },
            )),
        };
        answer.unwrap_or_else(|error| {
            tracing::error!(%error, "the ledger failed; answering Exception so the node stops");
            response::Value::Exception(ResponseException {
                error: error.to_string(),
            })
        })
    }
}

fn events(events: Vec<Event>) -> Vec<proto::Event> {
    events
        .into_iter()
        .map(|e| proto::Event {
            r#type: e.kind,
            attributes: e
                .attributes
                .into_iter()
                .map(|(key, value)| proto::EventAttribute {
                    key,
                    value,
                    index: true,
                })
                .collect(),
        })
        .collect()
}

/// The ProofOp type of the ledger's proofs.
pub fn query_proof_type() -> &'static str {
    query::PROOF_OP_TYPE
}

/// The codespace of every non-zero code: the ledger's codes (docs/ledger.md).
pub const CODESPACE: &str = "ehr";

fn unix_seconds(t: Option<tendermint_proto::google::protobuf::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds)
}
