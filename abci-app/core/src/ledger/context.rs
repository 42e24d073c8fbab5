//! What an action handler works with: the state, the verified signer, the
//! block's height and time, and the events and validator updates it emits.

use crate::crypto::{Address, PublicKey};
use crate::proto::Counter;
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::{BlockState, StateRead};

/// An indexed event of a transaction result (ABCI `Event`): ids, codes and
/// addresses only, never health data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: String,
    pub attributes: Vec<(String, String)>,
}

/// A change of a validator's voting power; 0 removes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorUpdate {
    pub pub_key: Vec<u8>,
    pub power: i64,
}

pub struct Ctx<'a> {
    pub state: &'a mut BlockState,
    pub signer: Address,
    pub signer_key: PublicKey,
    pub height: u64,
    pub time: i64,
    pub events: Vec<Event>,
    pub validator_updates: Vec<ValidatorUpdate>,
}

impl Ctx<'_> {
    pub fn emit(&mut self, kind: &str, attributes: &[(&str, String)]) {
        self.events.push(Event {
            kind: kind.to_string(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        });
    }

    /// Refuses with `code` and `message` when something is stored under `key`.
    pub fn require_absent(
        &self,
        key: &str,
        code: Code,
        message: impl FnOnce() -> String,
    ) -> Result<(), Refusal> {
        match self.state.get_raw(key.as_bytes())? {
            Some(_) => refuse(code, message()),
            None => Ok(()),
        }
    }

    /// Refuses a time that is not after the current block time.
    pub fn require_future(&self, field: &str, t: i64) -> Result<(), Refusal> {
        if t <= self.time {
            return refuse(
                Code::ExpiryNotInFuture,
                format!(
                    "{field} {t} is not after the current block time {}",
                    self.time
                ),
            );
        }
        Ok(())
    }

    /// Takes the next number of a sequence (first is 1).
    pub fn next_id(&mut self, counter_key: &str) -> Result<u64, Refusal> {
        let mut counter: Counter = self.state.get(counter_key.as_bytes())?.unwrap_or_default();
        counter.next = counter.next.max(1);
        let id = counter.next;
        counter.next += 1;
        self.state.put(counter_key, &counter);
        Ok(id)
    }
}
