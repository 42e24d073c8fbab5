//! A participant replaces the key that signs for them: a new phone, a
//! clinician's key renewed, a service's key rotated. Their address — their
//! first key's — stays who they are: grants, roles, guardianships and the
//! audit trail are keyed by it, so they follow the person, not the key. The
//! old key is refused from the next transaction on (`execute`), by every
//! gateway (which proves the participant's current key for each request)
//! and by ingest (which wraps new data keys for the current key only).

use crate::crypto::{verify_signature, Address, PublicKey, SecretKey};
use crate::proto::{KeyBinding, Participant, ParticipantKind, ParticipantStatus, Role, RotateKey};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;
use crate::tx::validate;

use super::super::actors;
use super::super::context::Ctx;
use super::super::keys;

/// What a new key signs to show it is held by whoever binds it.
pub const BINDING_CONTEXT: &str = "ehr-key-binding-v1\n";

/// Why a key is bound: a rotation, or a recovery. A proof given for one
/// is no proof for the other, so a thief holding a lost key cannot take the
/// proof a new phone showed its recovery contacts and rotate to it first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Rotation,
    Recovery,
}

impl Binding {
    pub fn word(self) -> &'static str {
        match self {
            Binding::Rotation => "rotation",
            Binding::Recovery => "recovery",
        }
    }
}

/// The message a new key signs to be bound to `identity` by `why`.
pub fn binding_message(why: Binding, identity: &Address) -> Vec<u8> {
    format!("{BINDING_CONTEXT}{}\n{identity}", why.word()).into_bytes()
}

/// The new key's proof that it may be bound to `identity` by `why`.
pub fn prove_binding(new_key: &SecretKey, why: Binding, identity: &Address) -> Vec<u8> {
    new_key.sign(&binding_message(why, identity)).to_vec()
}

/// The new key of `identity`, checked: a key, held by whoever binds it (its
/// proof), and signing for nobody, now or before.
pub(super) fn new_key(
    state: &impl StateRead,
    why: Binding,
    identity: &Address,
    key: &[u8],
    proof: &[u8],
) -> Result<PublicKey, Refusal> {
    let key = validate::public_key("new_public_key", key)?;
    verify_signature(&key, &binding_message(why, identity), proof).map_err(|e| {
        Refusal::new(
            Code::InvalidField,
            format!(
                "new_key_proof is not the new key's signature of its {} to {identity} ({e}): \
                 sign \"ehr-key-binding-v1\\n{}\\n{identity}\" with the new key",
                why.word(),
                why.word()
            ),
        )
    })?;
    actors::require_key_free(state, &key)?;
    Ok(key)
}

/// Makes `key` the one that signs for `p` from this block on; the key before
/// it signs for nobody from now. `basis` says why (rotation, recovery).
pub(super) fn bind(
    ctx: &mut Ctx,
    mut p: Participant,
    key: &PublicKey,
    basis: &str,
) -> Result<(), Refusal> {
    let identity = actors::address("participant", &p.address)?;
    p.public_key = key.to_bytes().to_vec();
    p.key_height = ctx.height;
    ctx.state.put(keys::participant(&identity), &p);
    ctx.state.put(
        keys::key_binding(&key.address()),
        &KeyBinding {
            identity: identity.0.to_vec(),
            bound_at_height: ctx.height,
            bound_at: ctx.time,
        },
    );
    ctx.emit(
        "key_rotated",
        &[
            ("address", identity.to_string()),
            ("key", key.address().to_string()),
            ("basis", basis.to_string()),
        ],
    );
    Ok(())
}

pub fn rotate(ctx: &mut Ctx, r: &RotateKey) -> Result<(), Refusal> {
    if !r.participant.is_empty() {
        return replace_for_staff(ctx, r);
    }
    let Some(p) = actors::participant(ctx.state, &ctx.signer)? else {
        return refuse(
            Code::NotRegistered,
            format!(
                "the signer {} is not a registered participant: only a participant has a key to replace",
                ctx.signer
            ),
        );
    };
    if p.kind == ParticipantKind::Service as i32 {
        // A service acts under its key's address in its own records (batches,
        // the gateway's audience and escrow): a new key is a new service.
        return refuse(
            Code::WrongRole,
            format!(
                "{} is a service: its organisation's admin registers a service with the new key and suspends this one",
                ctx.signer
            ),
        );
    }
    if p.status == ParticipantStatus::Suspended as i32 {
        return refuse(
            Code::Suspended,
            format!(
                "{} is suspended: a suspended key cannot replace itself (a thief would); their organisation's admin registers a new key",
                ctx.signer
            ),
        );
    }
    let signer = ctx.signer;
    let key = new_key(
        ctx.state,
        Binding::Rotation,
        &signer,
        &r.new_public_key,
        &r.new_key_proof,
    )?;
    bind(ctx, p, &key, "rotation")
}

/// An admin replaces the key of staff or a service of their organisation
/// (a stolen laptop's): whatever its status, the person keeps their grants.
fn replace_for_staff(ctx: &mut Ctx, r: &RotateKey) -> Result<(), Refusal> {
    let admin = actors::require_staff(
        ctx.state,
        &ctx.signer,
        &[Role::Admin],
        "an admin replaces another participant's key: staff or a service of their organisation",
    )?;
    let target = actors::address("participant", &r.participant)?;
    let Some(p) = actors::participant(ctx.state, &target)? else {
        return refuse(
            Code::UnknownParticipant,
            format!("{target} is not a registered participant"),
        );
    };
    let staff_or_service =
        p.kind == ParticipantKind::Staff as i32 || p.kind == ParticipantKind::Service as i32;
    if !staff_or_service || p.org_id != admin.org_id {
        return refuse(
            Code::WrongOrganisation,
            format!(
                "{target} is {}: an admin replaces the keys of their own organisation's staff and services only (a patient recovers hers through her recovery contacts)",
                actors::describe(&p)
            ),
        );
    }
    if target == ctx.signer {
        return refuse(
            Code::SelfAction,
            "an admin replaces their own key with rotate_key naming no participant",
        );
    }
    // Only a key already suspended as stolen: an admin cannot quietly take
    // over an active clinician's grants with a key of their own.
    if p.status != ParticipantStatus::Suspended as i32 {
        return refuse(
            Code::StatusUnchanged,
            format!("{target} is active: suspend the stolen key first, then replace it"),
        );
    }
    let key = new_key(
        ctx.state,
        Binding::Rotation,
        &target,
        &r.new_public_key,
        &r.new_key_proof,
    )?;
    bind(ctx, p, &key, "admin")
}
