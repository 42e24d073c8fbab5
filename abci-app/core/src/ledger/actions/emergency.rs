//! Break-glass: a doctor opens a patient's records without a grant, for a
//! fixed short window, with a stated reason, always flagged in the audit trail.

use crate::proto::{
    AccessBasis, AuditEntry, AuditKind, EmergencyAccess, OpenEmergencyAccess, Purpose, Role,
};
use crate::refusal::Refusal;

use super::super::actors::{self, require_patient, require_staff};
use super::super::context::Ctx;
use super::super::keys;
use super::audit;

/// How long emergency access lasts: four hours of block time.
pub const EMERGENCY_WINDOW_SECS: i64 = 4 * 60 * 60;

pub fn open(ctx: &mut Ctx, e: &OpenEmergencyAccess) -> Result<(), Refusal> {
    require_staff(
        ctx.state,
        &ctx.signer,
        &[Role::Doctor],
        "a doctor may open emergency access",
    )?;
    let patient = actors::address("patient", &e.patient)?;
    require_patient(ctx.state, &patient)?;
    let expires_at = ctx.time + EMERGENCY_WINDOW_SECS;
    ctx.state.put(
        keys::emergency(&patient, &ctx.signer),
        &EmergencyAccess {
            patient: e.patient.clone(),
            doctor: ctx.signer.0.to_vec(),
            reason: e.reason,
            justification: e.justification.clone(),
            opened_at: ctx.time,
            expires_at,
        },
    );
    let signer = ctx.signer;
    audit::append(
        ctx,
        &patient,
        AuditEntry {
            accessor: signer.0.to_vec(),
            kind: AuditKind::EmergencyOpened as i32,
            purpose: Purpose::Emergency as i32,
            basis: AccessBasis::Emergency as i32,
            emergency: true,
            emergency_reason: e.reason,
            justification: e.justification.clone(),
            ..Default::default()
        },
    )?;
    ctx.emit(
        "emergency_access",
        &[
            ("patient", patient.to_string()),
            ("doctor", signer.to_string()),
            ("expires_at", expires_at.to_string()),
        ],
    );
    Ok(())
}
