//! Applying one verified transaction: the nonce, then the action's rules.

use crate::proto::Account;
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::{BlockState, StateRead};
use crate::tx::{action_name, VerifiedTx};

use crate::crypto::Address;

use super::actions;
use super::actors;
use super::context::{Ctx, Event, ValidatorUpdate};
use super::keys;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// CheckTx: a refused transaction leaves no trace, not even its nonce, so
    /// the mempool's next transaction from the same account still fits.
    Check,
    /// FinalizeBlock: a transaction refused by the rules still uses its nonce,
    /// so it can never be replayed later when the rules might let it through —
    /// when the signer is known to the ledger (a participant, or enrolled by a
    /// member). A refused transaction of a key the ledger does not know leaves
    /// no trace: a proposer that fills blocks with throw-away keys (CheckTx,
    /// which refuses them, is only the honest nodes' mempool) grows no state.
    /// Such a key's first accepted transaction carries nonce 1 like its refused
    /// ones did, so none of those can be replayed after it.
    Deliver,
}

pub struct Applied {
    pub events: Vec<Event>,
    pub validator_updates: Vec<ValidatorUpdate>,
}

fn check_nonce(state: &mut BlockState, tx: &VerifiedTx) -> Result<(), Refusal> {
    let key = keys::account(&tx.signer);
    let mut account: Account = state.get(key.as_bytes())?.unwrap_or_default();
    let expected = account.nonce + 1;
    if tx.nonce < expected {
        return refuse(
            Code::NonceReplayed,
            format!(
                "nonce {} was already used by {}; the next nonce is {expected}",
                tx.nonce, tx.signer
            ),
        );
    }
    if tx.nonce > expected {
        return refuse(
            Code::NonceSkipped,
            format!(
                "nonce {} skips ahead; the next nonce of {} is {expected}",
                tx.nonce, tx.signer
            ),
        );
    }
    account.nonce = tx.nonce;
    state.put(key, &account);
    Ok(())
}

/// Whether the ledger knows the signer: a participant, or a key a member
/// enrolled (and which may register itself).
fn known(state: &BlockState, identity: &Address) -> Result<bool, Refusal> {
    Ok(state
        .get_raw(keys::participant(identity).as_bytes())?
        .is_some()
        || state
            .get_raw(keys::enrollment(identity).as_bytes())?
            .is_some())
}

pub fn execute(
    state: &mut BlockState,
    tx: &VerifiedTx,
    height: u64,
    time: i64,
    mode: Mode,
) -> Result<Applied, Refusal> {
    state.discard_tx();
    // A replaced key is refused leaving no trace: it can never sign again,
    // so nothing of it can be replayed later.
    let signer = actors::signer(state, &tx.public_key)?;
    if let Err(r) = check_nonce(state, tx) {
        state.discard_tx();
        return Err(r);
    }
    if mode == Mode::Deliver && known(state, &signer)? {
        state.commit_tx();
    }
    let mut ctx = Ctx {
        state,
        signer,
        signer_key: tx.public_key.clone(),
        height,
        time,
        events: vec![],
        validator_updates: vec![],
    };
    ctx.emit(
        "tx",
        &[
            ("action", action_name(&tx.action).to_string()),
            ("signer", signer.to_string()),
        ],
    );
    match actions::dispatch(&mut ctx, &tx.action) {
        Ok(()) => {
            let applied = Applied {
                events: ctx.events,
                validator_updates: ctx.validator_updates,
            };
            state.commit_tx();
            Ok(applied)
        }
        Err(r) => {
            state.discard_tx();
            Err(r)
        }
    }
}
