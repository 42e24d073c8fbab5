//! The mempool's view: the committed state plus the transactions CheckTx
//! accepted since, in the order it accepted them.
//!
//! At each commit the view starts again from the new state, and CometBFT's
//! recheck rebuilds it from what its mempool still holds, in its order —
//! only that: a transaction CometBFT dropped (a full mempool drops one even
//! after the application accepted it) must not stay in the view, or the
//! sender's next nonces would check out here and never apply in a block.
//! A recheck of a transaction the view held before the commit skips the
//! decoding and the signature: it was verified when it arrived.

use std::collections::{HashMap, HashSet};

use crate::refusal::{Code, Refusal};
use crate::storage::{BlockState, Snapshot};
use crate::tx::VerifiedTx;

use super::context::Event;
use super::execute::{execute, Mode};
use super::LedgerError;

/// Whether CometBFT sends a transaction for the first time or again after a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    New,
    Recheck,
}

#[derive(Default)]
pub(super) struct MempoolView {
    /// `None` until the first CheckTx after a commit.
    state: Option<BlockState>,
    /// Accepted on `state`, in order.
    accepted: Vec<VerifiedTx>,
    /// Accepted before the last commit and not in its block: what a recheck
    /// of the same bytes can re-apply without decoding them again.
    before_commit: HashMap<[u8; 32], VerifiedTx>,
}

/// What CheckTx answers.
pub(super) enum Verdict {
    Accepted(Vec<Event>),
    Refused(Refusal),
}

impl MempoolView {
    /// The verified transaction behind a recheck, when the view held it
    /// before the last commit.
    pub(super) fn take_verified(&mut self, hash: &[u8; 32]) -> Option<VerifiedTx> {
        self.before_commit.remove(hash)
    }

    /// Applies a verified transaction on the view; kept when it applies.
    pub(super) fn check(
        &mut self,
        committed: impl FnOnce() -> Result<Snapshot, LedgerError>,
        tx: VerifiedTx,
        height: u64,
        time: i64,
    ) -> Result<Verdict, LedgerError> {
        let state = match &mut self.state {
            Some(state) => state,
            None => self.state.insert(BlockState::new(committed()?)),
        };
        match execute(state, &tx, height, time, Mode::Check) {
            Ok(applied) => {
                self.accepted.push(tx);
                Ok(Verdict::Accepted(applied.events))
            }
            Err(r) if r.code == Code::Internal => Err(LedgerError::Internal(r.message)),
            Err(r) => Ok(Verdict::Refused(r)),
        }
    }

    /// A block was committed: the view starts again from the new state; what
    /// it held and the block did not include waits for its recheck.
    pub(super) fn rebase(&mut self, included: &HashSet<[u8; 32]>) {
        self.state = None;
        self.before_commit = std::mem::take(&mut self.accepted)
            .into_iter()
            .filter(|tx| !included.contains(&tx.hash))
            .map(|tx| (tx.hash, tx))
            .collect();
    }

    /// Forgets everything (a new genesis).
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Transactions accepted on the view since the last commit.
    pub(super) fn len(&self) -> usize {
        self.accepted.len()
    }
}
