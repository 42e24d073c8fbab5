//! A patient who loses their phone gets their key back without it. They name
//! recovery contacts and a threshold beforehand (`set_recovery_contacts`);
//! when the phone is gone, `threshold` contacts and an admin of a member
//! hospital — who checked the patient's identity in person, at the front desk
//! — approve the same new key (`approve_recovery`). The block of the last
//! approval binds it: the lost key signs for nobody from then, and the
//! gateways re-wrap the patient's escrowed data keys for the new key while it
//! is hers (docs/gateway.md), each re-wrap a disclosure in her trail.
//!
//! The lost key is the patient's in the ledger's eyes until then, so a thief
//! holding it could try to stop the recovery: contacts cannot change while
//! one is under way, and only an admin who saw the patient may replace a
//! recovery to one key by a recovery to another.

use crate::crypto::Address;
use crate::proto::{
    ApproveRecovery, CompletedRecovery, ParticipantStatus, PendingRecovery, RecoveryPolicy, Role,
    SetRecoveryContacts,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::actors::{self, require_patient, require_patient_or_guardian, require_staff};
use super::super::context::Ctx;
use super::super::keys;
use super::rotation;

/// Contacts a patient may name at most.
pub const MAX_CONTACTS: usize = 7;
/// How long a recovery waits for its approvals; after that it no longer
/// stops contacts from changing or another key from being approved.
pub const RECOVERY_LAPSES_AFTER_SECS: i64 = 14 * 24 * 3600;

fn lapsed(p: &PendingRecovery, now: i64) -> bool {
    now.saturating_sub(p.opened_at) > RECOVERY_LAPSES_AFTER_SECS
}

fn key_address(bytes: &[u8]) -> String {
    crate::crypto::PublicKey::from_bytes(bytes)
        .map_or_else(String::new, |k| k.address().to_string())
}

fn policy(state: &impl StateRead, patient: &Address) -> Result<RecoveryPolicy, Refusal> {
    Ok(state
        .get(keys::recovery(patient).as_bytes())?
        .unwrap_or_default())
}

/// How long a change of contacts waits before it takes effect.
pub const CONTACTS_CHANGE_AFTER_SECS: i64 = 14 * 24 * 3600;

/// The policy as it stands at `now`: contacts named to replace the ones in
/// force take their place once their time has come.
pub fn settled(mut p: RecoveryPolicy, now: i64) -> RecoveryPolicy {
    if p.next_from != 0 && now >= p.next_from {
        p.contacts = std::mem::take(&mut p.next_contacts);
        p.threshold = p.next_threshold;
        p.next_threshold = 0;
        p.next_from = 0;
    }
    p
}

pub fn set_contacts(ctx: &mut Ctx, s: &SetRecoveryContacts) -> Result<(), Refusal> {
    require_patient_or_guardian(ctx.state, &ctx.signer, &s.patient, "name recovery contacts")?;
    let patient = actors::address("patient", &s.patient)?;
    let mut policy = settled(policy(ctx.state, &patient)?, ctx.time);
    if let Some(p) = policy.pending.as_ref().filter(|p| !lapsed(p, ctx.time)) {
        return refuse(
            Code::RecoveryPending,
            format!(
                "a recovery of {patient}'s key to {} is under way (opened at {}): the contacts cannot change until it completes or lapses, 14 days after it opened",
                key_address(&p.new_public_key),
                p.opened_at
            ),
        );
    }
    for bytes in &s.contacts {
        let contact = actors::address("contact", bytes)?;
        match actors::participant(ctx.state, &contact)? {
            Some(c) if c.status == ParticipantStatus::Active as i32 => {}
            Some(_) => {
                return refuse(
                    Code::Suspended,
                    format!("the contact {contact} is suspended: name someone in good standing"),
                )
            }
            None => {
                return refuse(
                    Code::UnknownParticipant,
                    format!("the contact {contact} is not a registered participant: a contact approves with a key the ledger knows"),
                )
            }
        }
    }
    // The first contacts are in force at once; a change waits, while the
    // contacts in force still recover — whoever holds the key now.
    let from = if policy.contacts.is_empty() {
        policy.contacts = s.contacts.clone();
        policy.threshold = s.threshold;
        policy.next_contacts.clear();
        policy.next_threshold = 0;
        policy.next_from = 0;
        ctx.time
    } else {
        policy.next_contacts = s.contacts.clone();
        policy.next_threshold = s.threshold;
        policy.next_from = ctx.time.saturating_add(CONTACTS_CHANGE_AFTER_SECS);
        policy.next_from
    };
    policy.pending = None;
    ctx.state.put(keys::recovery(&patient), &policy);
    ctx.emit(
        "recovery_contacts_set",
        &[
            ("patient", patient.to_string()),
            ("contacts", s.contacts.len().to_string()),
            ("threshold", s.threshold.to_string()),
            ("from", from.to_string()),
        ],
    );
    Ok(())
}

pub fn approve(ctx: &mut Ctx, a: &ApproveRecovery) -> Result<(), Refusal> {
    let patient_address = actors::address("patient", &a.patient)?;
    let mut patient = require_patient(ctx.state, &patient_address)?;
    let mut policy = settled(policy(ctx.state, &patient_address)?, ctx.time);
    if policy.contacts.is_empty() {
        return refuse(
            Code::NoRecoveryContacts,
            format!(
                "{patient_address} named no recovery contacts: a lost key is recovered only through contacts the patient named beforehand (set-recovery-contacts)"
            ),
        );
    }
    // An admin's approval is the identity check, never also a contact's:
    // the check and the contacts are different people.
    let admin = require_staff(ctx.state, &ctx.signer, &[Role::Admin], "").ok();
    let contact = admin.is_none() && policy.contacts.iter().any(|c| *c == ctx.signer.0);
    if contact {
        if let Some(me) = actors::participant(ctx.state, &ctx.signer)? {
            if me.status != ParticipantStatus::Active as i32 {
                return refuse(
                    Code::Suspended,
                    format!("{} is suspended and approves nothing", ctx.signer),
                );
            }
        }
    }
    if admin.is_none() && !contact {
        return refuse(
            Code::WrongRole,
            format!(
                "only a recovery contact of {patient_address}, or an admin of a member organisation who checked their identity in person, may approve the recovery of their key"
            ),
        );
    }
    let key = rotation::new_key(
        ctx.state,
        rotation::Binding::Recovery,
        &patient_address,
        &a.new_public_key,
        &a.new_key_proof,
    )?;
    let key_bytes = key.to_bytes().to_vec();
    let mut pending = match policy.pending.take() {
        // Approvals of a recovery that lapsed count no more.
        Some(p) if p.new_public_key == key_bytes && !lapsed(&p, ctx.time) => p,
        Some(p) if !lapsed(&p, ctx.time) && admin.is_none() => {
            return refuse(
                Code::RecoveryPending,
                format!(
                    "a recovery of {patient_address}'s key to another key ({}) is under way, opened at {}: the admin who checks the patient in person decides which key is theirs",
                    key_address(&p.new_public_key),
                    p.opened_at
                ),
            )
        }
        _ => PendingRecovery {
            new_public_key: key_bytes,
            opened_at: ctx.time,
            ..Default::default()
        },
    };
    if contact && !pending.approvals.contains(&ctx.signer.0.to_vec()) {
        pending.approvals.push(ctx.signer.0.to_vec());
    }
    if let Some(admin) = &admin {
        pending.identity_checked_by = ctx.signer.0.to_vec();
        pending.checked_by_org = admin.org_id.clone();
    }
    let approvals = pending.approvals.len();
    let checked = !pending.identity_checked_by.is_empty();
    ctx.emit(
        "recovery_approved",
        &[
            ("patient", patient_address.to_string()),
            ("approver", ctx.signer.to_string()),
            ("key", key.address().to_string()),
            ("approvals", approvals.to_string()),
            ("threshold", policy.threshold.to_string()),
            ("identity_checked", checked.to_string()),
        ],
    );
    if approvals < policy.threshold as usize || !checked {
        policy.pending = Some(pending);
        ctx.state.put(keys::recovery(&patient_address), &policy);
        return Ok(());
    }
    policy.last = Some(CompletedRecovery {
        new_public_key: pending.new_public_key,
        height: ctx.height,
        time: ctx.time,
        approvals: pending.approvals,
        identity_checked_by: pending.identity_checked_by,
        checked_by_org: pending.checked_by_org.clone(),
    });
    ctx.state.put(keys::recovery(&patient_address), &policy);
    ctx.emit(
        "key_recovered",
        &[
            ("patient", patient_address.to_string()),
            ("key", key.address().to_string()),
            ("checked_by_org", pending.checked_by_org),
        ],
    );
    // A guardian stays only if they vouched as a contact: one named with
    // the lost key (by a thief, perhaps) is not hers to keep; she names
    // her guardian again with her new key.
    let guardian = crate::crypto::PublicKey::from_bytes(&patient.guardian_public_key);
    let vouched = guardian.as_ref().is_some_and(|g| {
        let approved = |a: &Vec<u8>| *a == g.address().0.to_vec();
        policy
            .last
            .as_ref()
            .is_some_and(|l| l.approvals.iter().any(approved))
    });
    if guardian.is_some() && !vouched {
        let old = std::mem::take(&mut patient.guardian_public_key);
        super::patients::index_guardian(ctx, &patient_address, &old, &[]);
        ctx.emit("guardian_set", &[("patient", patient_address.to_string())]);
    }
    rotation::bind(ctx, patient, &key, "recovery")
}
