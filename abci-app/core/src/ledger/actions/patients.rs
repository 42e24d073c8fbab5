//! A member hospital enrolls a patient's key (its front desk has checked who
//! the patient is); the patient then registers with that key and may name a
//! guardian who acts for them. Without enrollment, anyone could register fresh
//! keys without end and grow every validator's state for free.

use crate::crypto::{Address, PublicKey};
use crate::proto::{
    Counter, EnrollPatient, Enrollment, Participant, ParticipantKind, ParticipantStatus,
    RegisterPatient, Role, SetGuardian,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::actors::{self, describe, require_patient_or_guardian, require_staff};
use super::super::context::Ctx;
use super::super::keys;

fn guardian_key(bytes: &[u8], patient: &[u8]) -> Result<Vec<u8>, Refusal> {
    if bytes.is_empty() {
        return Ok(vec![]);
    }
    let key = PublicKey::from_bytes(bytes).ok_or_else(|| {
        Refusal::new(
            Code::InvalidField,
            "guardian_public_key is not a public key",
        )
    })?;
    if key.address().0.as_slice() == patient {
        return refuse(Code::SelfAction, "a patient cannot be their own guardian");
    }
    Ok(key.to_bytes().to_vec())
}

/// Keeps the index of whom a guardian acts for (`/guarding/<guardian>`) in
/// step with the patient's entry: `old` out, `new` in.
pub(super) fn index_guardian(ctx: &mut Ctx, patient: &Address, old: &[u8], new: &[u8]) {
    if let Some(old) = PublicKey::from_bytes(old) {
        ctx.state
            .delete(keys::guarding_entry(&old.address(), patient));
    }
    if let Some(new) = PublicKey::from_bytes(new) {
        ctx.state.put(
            keys::guarding_entry(&new.address(), patient),
            &Counter::default(),
        );
    }
}

pub fn enroll(ctx: &mut Ctx, e: &EnrollPatient) -> Result<(), Refusal> {
    let admin = require_staff(
        ctx.state,
        &ctx.signer,
        &[Role::Admin],
        "an admin of a member organisation may enroll a patient",
    )?;
    for bytes in &e.public_keys {
        let key = crate::tx::validate::public_key("public_keys", bytes)?;
        let address = key.address();
        actors::require_key_free(ctx.state, &key)?;
        let key = keys::enrollment(&address);
        // Enrolling again changes nothing: a batch sent twice is harmless.
        if ctx.state.get_raw(key.as_bytes())?.is_some() {
            continue;
        }
        ctx.state.put(
            key,
            &Enrollment {
                address: address.0.to_vec(),
                org_id: admin.org_id.clone(),
                enrolled_by: ctx.signer.0.to_vec(),
                enrolled_at: ctx.time,
            },
        );
        ctx.emit(
            "patient_enrolled",
            &[
                ("address", address.to_string()),
                ("org_id", admin.org_id.clone()),
            ],
        );
    }
    Ok(())
}

pub fn register(ctx: &mut Ctx, r: &RegisterPatient) -> Result<(), Refusal> {
    if let Some(existing) = actors::participant(ctx.state, &ctx.signer)? {
        return refuse(
            Code::AlreadyRegistered,
            format!(
                "{} is already registered as {}",
                ctx.signer,
                describe(&existing)
            ),
        );
    }
    let enrollment = keys::enrollment(&ctx.signer);
    let Some(enrolled) = ctx.state.get::<Enrollment>(enrollment.as_bytes())? else {
        return refuse(
            Code::NotEnrolled,
            format!(
                "{} is not enrolled: a member hospital enrolls a patient's key first (ehr tx --from <admin> enroll-patient --key <public key>)",
                ctx.signer
            ),
        );
    };
    ctx.state.delete(enrollment);
    let guardian = guardian_key(&r.guardian_public_key, &ctx.signer.0)?;
    let p = Participant {
        address: ctx.signer.0.to_vec(),
        public_key: ctx.signer_key.to_bytes().to_vec(),
        kind: ParticipantKind::Patient as i32,
        status: ParticipantStatus::Active as i32,
        guardian_public_key: guardian,
        registered_at: ctx.time,
        // Its admins may seal the patient's demographics (`access::decide`).
        org_id: enrolled.org_id,
        ..Default::default()
    };
    ctx.state.put(keys::participant(&ctx.signer), &p);
    let me = ctx.signer;
    index_guardian(ctx, &me, &[], &p.guardian_public_key);
    ctx.emit("patient_registered", &[("address", ctx.signer.to_string())]);
    Ok(())
}

pub fn set_guardian(ctx: &mut Ctx, s: &SetGuardian) -> Result<(), Refusal> {
    let mut patient =
        require_patient_or_guardian(ctx.state, &ctx.signer, &s.patient, "change the guardian")?;
    let old = std::mem::replace(
        &mut patient.guardian_public_key,
        guardian_key(&s.guardian_public_key, &s.patient)?,
    );
    let address = actors::address("patient", &s.patient)?;
    ctx.state.put(keys::participant(&address), &patient);
    index_guardian(ctx, &address, &old, &patient.guardian_public_key);
    ctx.emit("guardian_set", &[("patient", address.to_string())]);
    Ok(())
}
