//! An organisation's admin registers, suspends and reinstates its staff and services.

use crate::crypto::PublicKey;
use crate::proto::{
    Counter, Participant, ParticipantKind, ParticipantStatus, RegisterService, RegisterStaff,
    ReinstateParticipant, Role, ServiceKind, SuspendParticipant,
};
use crate::refusal::{refuse, Code, Refusal};

use super::super::actors::{self, require_staff};
use super::super::context::Ctx;
use super::super::keys;
use crate::tx::validate;

const ADMIN_ONLY: &str = "an admin of a member organisation may manage its staff and services";

/// Writes a new active participant of `org_id` and indexes it under the organisation.
pub fn enroll(
    ctx: &mut Ctx,
    key: &PublicKey,
    org_id: &str,
    kind: ParticipantKind,
    role: i32,
    service_kind: i32,
) -> Participant {
    let address = key.address();
    let p = Participant {
        address: address.0.to_vec(),
        public_key: key.to_bytes().to_vec(),
        kind: kind as i32,
        status: ParticipantStatus::Active as i32,
        role,
        service_kind,
        org_id: org_id.to_string(),
        registered_at: ctx.time,
        ..Default::default()
    };
    ctx.state.put(keys::participant(&address), &p);
    ctx.state
        .put(keys::org_member(org_id, &address), &Counter::default());
    if kind == ParticipantKind::Service && service_kind == ServiceKind::Gateway as i32 {
        ctx.state.put(keys::gateway(&address), &Counter::default());
    }
    ctx.emit(
        "participant_registered",
        &[
            ("address", address.to_string()),
            ("org", org_id.to_string()),
            ("kind", kind.as_str_name().to_string()),
        ],
    );
    p
}

fn require_new_key(ctx: &Ctx, bytes: &[u8]) -> Result<PublicKey, Refusal> {
    let key = validate::public_key("public_key", bytes)?;
    actors::require_key_free(ctx.state, &key)?;
    Ok(key)
}

pub fn register_staff(ctx: &mut Ctx, r: &RegisterStaff) -> Result<(), Refusal> {
    let admin = require_staff(ctx.state, &ctx.signer, &[Role::Admin], ADMIN_ONLY)?;
    let key = require_new_key(ctx, &r.public_key)?;
    enroll(ctx, &key, &admin.org_id, ParticipantKind::Staff, r.role, 0);
    Ok(())
}

pub fn register_service(ctx: &mut Ctx, r: &RegisterService) -> Result<(), Refusal> {
    let admin = require_staff(ctx.state, &ctx.signer, &[Role::Admin], ADMIN_ONLY)?;
    let key = require_new_key(ctx, &r.public_key)?;
    enroll(
        ctx,
        &key,
        &admin.org_id,
        ParticipantKind::Service,
        0,
        r.kind,
    );
    Ok(())
}

fn set_status(ctx: &mut Ctx, target: &[u8], status: ParticipantStatus) -> Result<(), Refusal> {
    let admin = require_staff(ctx.state, &ctx.signer, &[Role::Admin], ADMIN_ONLY)?;
    let address = actors::address("address", target)?;
    let mut p = actors::participant(ctx.state, &address)?.ok_or_else(|| {
        Refusal::new(
            Code::UnknownParticipant,
            format!("{address} is not registered"),
        )
    })?;
    if p.kind == ParticipantKind::Patient as i32 || p.org_id != admin.org_id {
        return refuse(
            Code::WrongOrganisation,
            format!("{address} is not staff or a service of {}", admin.org_id),
        );
    }
    if address == ctx.signer {
        return refuse(
            Code::SelfAction,
            "an admin cannot suspend or reinstate themselves",
        );
    }
    if p.status == status as i32 {
        return refuse(
            Code::StatusUnchanged,
            format!("{address} is already {}", status.as_str_name()),
        );
    }
    p.status = status as i32;
    ctx.state.put(keys::participant(&address), &p);
    ctx.emit(
        "participant_status",
        &[
            ("address", address.to_string()),
            ("status", status.as_str_name().to_string()),
        ],
    );
    Ok(())
}

pub fn suspend(ctx: &mut Ctx, s: &SuspendParticipant) -> Result<(), Refusal> {
    set_status(ctx, &s.address, ParticipantStatus::Suspended)
}

pub fn reinstate(ctx: &mut Ctx, r: &ReinstateParticipant) -> Result<(), Refusal> {
    set_status(ctx, &r.address, ParticipantStatus::Active)
}
