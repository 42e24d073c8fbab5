//! A patient who withdraws research consent leaves the analysts' tables.
//!
//! Ingest follows the chain's blocks (`block_results`, from the height it
//! last followed, kept in PostgreSQL) for `research_consent` events. A
//! withdrawal is acted on once proven — the patient's participant record,
//! read with a state proof against the app hash after that block, says no
//! consent — so a node cannot make ingest delete anyone's rows by a made-up
//! event. Then every analytics row of the patient's pseudonym is deleted, the
//! registry forgets its cached answer, and no analytics row of theirs is
//! written from then on (the registry's view may still be a block behind:
//! the withdrawal seen here wins until a new consent is seen).
//!
//! The follower runs in the worker between polls, and while no readings
//! come, so nothing written by a poll before the withdrawal was followed
//! stays behind.
//!
//! The same blocks say who gained or lost a grant (`access_granted`,
//! `access_revoked`): the registry forgets that patient's readers, so the
//! next reading's key is wrapped for whom the chain says now — from the
//! block that made the change on, not when a cache entry expires. An event
//! only makes ingest ask again (on proof): a made-up one adds no reader. A
//! new guardian (`guardian_set`) makes it ask for the patient's entry again;
//! a suspension or reinstatement (`participant_status`) or a change of
//! members (`proposal_decided`), for everyone's readers; a key replaced
//! (`key_rotated`), for both: from that block the new key gets the wraps.
//! A code the consortium added or retired (`code_changed`) is asked for
//! again: a retired code is refused from the block that retired it.
//!
//! Between the same polls ingest carries out the chain's erasures, by their
//! numbers rather than by events (`ehr_client::erasures`).

use std::collections::HashSet;

use ehr_client::erasures::next_after;
use ehr_ledger::crypto::Address;
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::Participant;

use crate::keyring::KeyRing;
use crate::pipeline::{pseudonym, Transient};
use crate::registry::Registry;
use crate::store::Store;

/// Blocks read per call at most, so that a long way behind does not stop
/// the readings for long: the rest follows at the next calls.
const BLOCKS_PER_ROUND: u64 = 200;

/// Erasures carried out per call at most.
const ERASURES_PER_ROUND: usize = 50;

#[derive(Default)]
pub struct Withdrawals {
    /// Patients whose withdrawal was followed and not followed by a new consent.
    withdrawn: HashSet<Address>,
}

/// A consent change as a block's event says it (to be proven).
struct Change {
    patient: Address,
    consent: bool,
}

impl Withdrawals {
    pub fn is_withdrawn(&self, patient: &Address) -> bool {
        self.withdrawn.contains(patient)
    }

    /// Follows the blocks committed since the last call (at most
    /// `BLOCKS_PER_ROUND`). The first time, with no height kept, it starts
    /// from the latest block: rows can only exist for patients who consented
    /// while ingest ran.
    pub fn follow(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        registry: &Registry,
        store: &mut Store,
        secret: &[u8],
        ring: &KeyRing,
    ) -> Result<(), Transient> {
        let rpc = registry.rpc();
        // Up to the newest block a fresh, signed header proves: a change in a
        // block after it is followed once it can be proven.
        let latest = runtime
            .block_on(async { Ok::<_, Transient>(registry.chain().latest().await?.height) })?;
        let from = match store.followed_height()? {
            Some(h) => h + 1,
            None => {
                store.set_followed_height(latest)?;
                return Ok(());
            }
        };
        // An erasure that cannot be carried out now (the chain or the
        // database failing) is tried again at the next call; it holds up
        // neither the readings nor the rest of what the blocks say.
        if let Err(e) = Self::erase(runtime, registry, store, secret, ring) {
            tracing::warn!(error = %e, "could not carry out the chain's erasures yet; trying again");
        }
        let to = latest.min(from + BLOCKS_PER_ROUND - 1);
        for height in from..=to {
            let events = runtime.block_on(rpc.committed_events(height))?;
            for e in events
                .iter()
                .filter(|e| e.kind == "access_granted" || e.kind == "access_revoked")
            {
                if let Some(patient) = e.attribute("patient").and_then(|p| p.parse().ok()) {
                    registry.forget_readers(&patient);
                    // Her next readings under a new key, even when her
                    // readers come back the same (a grant and its revocation
                    // within one cache's life): a key she re-wrapped for the
                    // grantee meanwhile opens nothing stored after.
                    ring.close(&patient);
                }
            }
            // A doctor who broke the glass was given her open key for his
            // request: what she measures next is under a new one.
            for e in events.iter().filter(|e| e.kind == "emergency_access") {
                if let Some(patient) = e.attribute("patient").and_then(|p| p.parse().ok()) {
                    ring.close(&patient);
                }
            }
            // A key suspended (a stolen laptop) or reinstated, or a member
            // leaving: whoever reads anyone may have changed.
            if events
                .iter()
                .any(|e| e.kind == "participant_status" || e.kind == "proposal_decided")
            {
                registry.forget_all_readers();
            }
            // A key replaced (rotated, or a lost one recovered): the next
            // data keys are wrapped for the new one — the patient's own, or
            // a reader's or gateway's of anyone's.
            for e in events.iter().filter(|e| e.kind == "key_rotated") {
                if let Some(who) = e.attribute("address").and_then(|p| p.parse().ok()) {
                    registry.forget_patient(&who);
                }
                registry.forget_all_readers();
            }
            for e in events.iter().filter(|e| e.kind == "code_changed") {
                let system = e
                    .attribute("system")
                    .and_then(ehr_ledger::ledger::codes::system_of);
                if let (Some(system), Some(code)) = (system, e.attribute("code")) {
                    registry.forget_code(system, code);
                }
            }
            for e in events.iter().filter(|e| e.kind == "guardian_set") {
                if let Some(patient) = e.attribute("patient").and_then(|p| p.parse().ok()) {
                    registry.forget_patient(&patient);
                }
            }
            let changes = events
                .into_iter()
                .filter(|e| e.kind == "research_consent")
                .filter_map(|e| {
                    Some(Change {
                        patient: e.attribute("patient")?.parse().ok()?,
                        consent: e.attribute("consent")? == "true",
                    })
                });
            for change in changes.collect::<Vec<_>>() {
                self.apply(runtime, registry, store, secret, height, change)?;
            }
            store.set_followed_height(height)?;
        }
        Ok(())
    }

    /// Carries out the chain's erasures after the last one done here, in
    /// order, each proven by its number (`ehr_client::erasures`: no event
    /// needed, none can be hidden): the readings each covers are
    /// crypto-shredded and their analytics rows deleted. An erasure waits
    /// (seconds) while a batch written before it awaits its anchor's height
    /// here: whether it covers its readings depends on it
    /// (`erasure::covers`).
    fn erase(
        runtime: &tokio::runtime::Runtime,
        registry: &Registry,
        store: &mut Store,
        secret: &[u8],
        ring: &KeyRing,
    ) -> Result<(), Transient> {
        for _ in 0..ERASURES_PER_ROUND {
            let done = store.followed_erasure()?;
            let Some(erasure) = runtime.block_on(next_after(registry.chain(), done))? else {
                return Ok(());
            };
            let Some(patient) = Address::from_slice(&erasure.patient) else {
                // The ledger never writes one; nothing to erase by it.
                store.set_followed_erasure(erasure.id)?;
                continue;
            };
            // What she measures from now on is under a key of its own, even
            // while the erasure waits for a batch below: the key of what is
            // erased is shredded unless it also opens a reading the erasure
            // does not cover.
            ring.close(&patient);
            // A minute's margin for the database's clock against block time.
            if store.pending_written_before(&patient.to_string(), erasure.erased_at + 60)? > 0 {
                let waited = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64)
                    - erasure.erased_at;
                if waited > 300 {
                    tracing::warn!(
                        erasure = erasure.id,
                        waited_secs = waited,
                        "an erasure waits for a batch of the patient's, written before it, to be \
                         anchored: an ingest instance that wrote it must anchor it"
                    );
                }
                return Ok(());
            }
            let erased =
                store.erase(&erasure, &patient.to_string(), &pseudonym(secret, &patient))?;
            store.set_followed_erasure(erasure.id)?;
            tracing::info!(
                erasure = erasure.id,
                readings = erased.readings,
                wraps = erased.wraps,
                analytics = erased.analytics,
                "readings erased: their ciphertexts and keys shredded, their analytics rows deleted"
            );
        }
        Ok(())
    }

    fn apply(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        registry: &Registry,
        store: &mut Store,
        secret: &[u8],
        height: u64,
        change: Change,
    ) -> Result<(), Transient> {
        let patient = change.patient;
        let proven: Option<Participant> = runtime.block_on(async {
            let chain = registry.chain();
            // The state right after the change's block; where that height is
            // no longer kept (pruned), the newest state.
            let mut view = match chain.after(height).await {
                Ok(view) => view,
                Err(_) => chain.latest().await?,
            };
            view.get(&keys::participant(&patient)).await
        })?;
        let consents = proven.is_some_and(|p| p.research_consent);
        registry.forget_patient(&patient);
        if consents {
            self.withdrawn.remove(&patient);
            return Ok(());
        }
        if change.consent {
            // The event says consent, the proven state does not: nothing to undo.
            return Ok(());
        }
        self.withdrawn.insert(patient);
        let deleted = store.forget_analytics(&pseudonym(secret, &patient))?;
        tracing::info!(height, deleted, "research consent withdrawn: the patient's de-identified readings left the analytics tables");
        Ok(())
    }
}
