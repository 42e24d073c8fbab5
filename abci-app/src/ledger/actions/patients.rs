//! Patients register themselves and may name a guardian who acts for them.

use crate::crypto::PublicKey;
use crate::proto::{Participant, ParticipantKind, ParticipantStatus, RegisterPatient, SetGuardian};
use crate::refusal::{refuse, Code, Refusal};

use super::super::actors::{self, describe, require_patient_or_guardian};
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
    let guardian = guardian_key(&r.guardian_public_key, &ctx.signer.0)?;
    let p = Participant {
        address: ctx.signer.0.to_vec(),
        public_key: ctx.signer_key.to_bytes().to_vec(),
        kind: ParticipantKind::Patient as i32,
        status: ParticipantStatus::Active as i32,
        guardian_public_key: guardian,
        registered_at: ctx.time,
        ..Default::default()
    };
    ctx.state.put(keys::participant(&ctx.signer), &p);
    ctx.emit("patient_registered", &[("address", ctx.signer.to_string())]);
    Ok(())
}

pub fn set_guardian(ctx: &mut Ctx, s: &SetGuardian) -> Result<(), Refusal> {
    let mut patient =
        require_patient_or_guardian(ctx.state, &ctx.signer, &s.patient, "change the guardian")?;
    patient.guardian_public_key = guardian_key(&s.guardian_public_key, &s.patient)?;
    let address = actors::address("patient", &s.patient)?;
    ctx.state.put(keys::participant(&address), &patient);
    ctx.emit("guardian_set", &[("patient", address.to_string())]);
    Ok(())
}
