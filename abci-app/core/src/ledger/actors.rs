//! Who the signer is, and whether that lets them send an action.

use crate::crypto::{Address, PublicKey};
use crate::proto::{
    AccessBasis, KeyBinding, MemberStatus, Organisation, Participant, ParticipantKind,
    ParticipantStatus, Role, ServiceKind,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::keys;

pub fn participant(state: &impl StateRead, a: &Address) -> Result<Option<Participant>, Refusal> {
    Ok(state.get(keys::participant(a).as_bytes())?)
}

pub fn organisation(state: &impl StateRead, org_id: &str) -> Result<Option<Organisation>, Refusal> {
    Ok(state.get(keys::organisation(org_id).as_bytes())?)
}

pub fn is_active_member(state: &impl StateRead, org_id: &str) -> Result<bool, Refusal> {
    Ok(organisation(state, org_id)?.is_some_and(|o| o.status == MemberStatus::Active as i32))
}

pub fn role_name(role: i32) -> &'static str {
    match Role::try_from(role) {
        Ok(Role::Doctor) => "doctor",
        Ok(Role::Nurse) => "nurse",
        Ok(Role::Pharmacist) => "pharmacist",
        Ok(Role::LabTechnician) => "lab technician",
        Ok(Role::Admin) => "admin",
        _ => "unknown role",
    }
}

pub fn describe(p: &Participant) -> String {
    match ParticipantKind::try_from(p.kind) {
        Ok(ParticipantKind::Staff) => format!("a {} of {}", role_name(p.role), p.org_id),
        Ok(ParticipantKind::Service) => match ServiceKind::try_from(p.service_kind) {
            Ok(ServiceKind::Ingest) => format!("the ingest service of {}", p.org_id),
            Ok(ServiceKind::Gateway) => format!("the gateway service of {}", p.org_id),
            _ => format!("a service of {}", p.org_id),
        },
        Ok(ParticipantKind::Patient) => "a patient".to_string(),
        _ => "an unknown participant".to_string(),
    }
}

/// Refuses a registered participant that is suspended or whose organisation left.
fn require_in_good_standing(state: &impl StateRead, p: &Participant) -> Result<(), Refusal> {
    if p.status == ParticipantStatus::Suspended as i32 {
        return refuse(
            Code::Suspended,
            format!(
                "the signer, {}, is suspended by their organisation",
                describe(p)
            ),
        );
    }
    if !p.org_id.is_empty() && !is_active_member(state, &p.org_id)? {
        return refuse(
            Code::OrgNotMember,
            format!(
                "the signer's organisation {} is not an active consortium member",
                p.org_id
            ),
        );
    }
    Ok(())
}

fn registered(
    state: &impl StateRead,
    signer: &Address,
    what: &str,
) -> Result<Participant, Refusal> {
    participant(state, signer)?.ok_or_else(|| {
        Refusal::new(
            Code::NotRegistered,
            format!("the signer {signer} is not a registered participant; only {what}"),
        )
    })
}

/// The signer as active staff of an active member with one of `roles`.
/// `what` completes "only …", e.g. "a doctor may prescribe".
pub fn require_staff(
    state: &impl StateRead,
    signer: &Address,
    roles: &[Role],
    what: &str,
) -> Result<Participant, Refusal> {
    let p = registered(state, signer, what)?;
    require_in_good_standing(state, &p)?;
    let is_role =
        p.kind == ParticipantKind::Staff as i32 && roles.iter().any(|r| *r as i32 == p.role);
    if !is_role {
        return refuse(
            Code::WrongRole,
            format!("the signer is {}; only {what}", describe(&p)),
        );
    }
    Ok(p)
}

/// The signer as an active service of `kind` of an active member.
pub fn require_service(
    state: &impl StateRead,
    signer: &Address,
    kind: ServiceKind,
    what: &str,
) -> Result<Participant, Refusal> {
    let p = registered(state, signer, what)?;
    require_in_good_standing(state, &p)?;
    if p.kind != ParticipantKind::Service as i32 || p.service_kind != kind as i32 {
        return refuse(
            Code::WrongRole,
            format!("the signer is {}; only {what}", describe(&p)),
        );
    }
    Ok(p)
}

pub fn require_patient(state: &impl StateRead, a: &Address) -> Result<Participant, Refusal> {
    match participant(state, a)? {
        Some(p) if p.kind == ParticipantKind::Patient as i32 => Ok(p),
        _ => refuse(
            Code::UnknownPatient,
            format!("{a} is not a registered patient"),
        ),
    }
}

/// Whether `signer` is the patient or the patient's guardian.
pub fn acts_for(patient: &Participant, signer: &Address) -> Option<AccessBasis> {
    if patient.address == signer.0 {
        return Some(AccessBasis::Patient);
    }
    let guardian = PublicKey::from_bytes(&patient.guardian_public_key)?;
    (guardian.address() == *signer).then_some(AccessBasis::Guardian)
}

/// The named patient, when the signer is that patient or their guardian.
pub fn require_patient_or_guardian(
    state: &impl StateRead,
    signer: &Address,
    patient: &[u8],
    what: &str,
) -> Result<Participant, Refusal> {
    let a = Address::from_slice(patient)
        .ok_or_else(|| Refusal::new(Code::InvalidField, "patient must be a 20-byte address"))?;
    let p = require_patient(state, &a)?;
    if acts_for(&p, signer).is_none() {
        return refuse(
            Code::NotPatientOrGuardian,
            format!("only the patient {a} or their guardian may {what}"),
        );
    }
    Ok(p)
}

/// The participant a key signs for: the one a rotation or a recovery bound
/// it to, else the key's own address.
pub fn identity_of(state: &impl StateRead, key: &Address) -> Result<Address, Refusal> {
    Ok(
        match state.get::<KeyBinding>(keys::key_binding(key).as_bytes())? {
            Some(b) => Address::from_slice(&b.identity).unwrap_or(*key),
            None => *key,
        },
    )
}

/// Whom `key` signs for now: its participant (by `identity_of`) — refused
/// when that participant's key was replaced since (a lost phone, a stolen
/// laptop): such a key signs for nobody. The ledger runs this for every
/// transaction; the gateway, on proven state, for every request.
pub fn signer(state: &impl StateRead, key: &PublicKey) -> Result<Address, Refusal> {
    let address = key.address();
    let identity = identity_of(state, &address)?;
    if let Some(p) = participant(state, &identity)? {
        if p.public_key != key.to_bytes() {
            return refuse(
                Code::KeyReplaced,
                format!(
                    "the key {address} of {identity} was replaced at height {}: it signs for nobody now; sign with the current key",
                    p.key_height
                ),
            );
        }
    }
    Ok(identity)
}

/// Refuses a key that already signs for someone: a participant's own, or
/// bound to one — also once replaced, so no key ever signs for two people.
pub fn require_key_free(state: &impl StateRead, key: &PublicKey) -> Result<(), Refusal> {
    let address = key.address();
    if let Some(existing) = participant(state, &address)? {
        return refuse(
            Code::AlreadyRegistered,
            format!("{address} is already registered as {}", describe(&existing)),
        );
    }
    if let Some(b) = state.get::<KeyBinding>(keys::key_binding(&address).as_bytes())? {
        let identity = Address::from_slice(&b.identity).map_or_else(String::new, |a| a.to_string());
        return refuse(
            Code::KeyInUse,
            format!("the key {address} signs, or signed, for {identity}: a key serves one participant for ever; make a new one"),
        );
    }
    Ok(())
}

pub fn address(field: &str, bytes: &[u8]) -> Result<Address, Refusal> {
    Address::from_slice(bytes).ok_or_else(|| {
        Refusal::new(
            Code::InvalidField,
            format!("{field} must be a 20-byte address"),
        )
    })
}
