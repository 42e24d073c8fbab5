//! The audit trail: every disclosure of a patient's data, and every emergency
//! access, appended under the patient in order. Entries are never changed.

use crate::crypto::Address;
use crate::proto::{
    AccessBasis, AccessLevel, AuditEntry, AuditKind, Category, LogDisclosures, ServiceKind,
};
use crate::refusal::Refusal;

use super::super::access::{decide, Decision};
use super::super::actors::{self, require_patient, require_service};
use super::super::context::Ctx;
use super::super::keys;

/// Appends an entry to the patient's trail, filling sequence, height and time.
pub fn append(ctx: &mut Ctx, patient: &Address, mut entry: AuditEntry) -> Result<u64, Refusal> {
    let seq = ctx.next_id(&keys::next_audit(patient))?;
    entry.seq = seq;
    entry.patient = patient.0.to_vec();
    entry.height = ctx.height as i64;
    entry.block_time = ctx.time;
    ctx.state.put(keys::audit_entry(patient, seq), &entry);
    Ok(seq)
}

pub fn log_disclosures(ctx: &mut Ctx, l: &LogDisclosures) -> Result<(), Refusal> {
    require_service(
        ctx.state,
        &ctx.signer,
        ServiceKind::Gateway,
        "a gateway service may log disclosures",
    )?;
    for d in &l.disclosures {
        let patient = actors::address("patient", &d.patient)?;
        let accessor = actors::address("accessor", &d.accessor)?;
        require_patient(ctx.state, &patient)?;
        let category = Category::try_from(d.category).unwrap_or(Category::Unspecified);
        // The ledger records the basis it finds now; a disclosure without one is
        // still recorded (the trail must not lose it) and flagged by basis NONE.
        let basis = match decide(
            ctx.state,
            &accessor,
            &patient,
            category,
            AccessLevel::Read,
            ctx.time,
        )? {
            Decision::Allowed { basis, .. } => basis,
            Decision::Denied(_) => AccessBasis::None,
        };
        let signer = ctx.signer;
        let seq = append(
            ctx,
            &patient,
            AuditEntry {
                accessor: d.accessor.clone(),
                kind: AuditKind::Disclosure as i32,
                record_ids: d.record_ids.clone(),
                purpose: d.purpose,
                basis: basis as i32,
                emergency: basis == AccessBasis::Emergency,
                logged_by: signer.0.to_vec(),
                disclosed_at: d.disclosed_at,
                category: d.category,
                ..Default::default()
            },
        )?;
        ctx.emit(
            "disclosure",
            &[
                ("patient", patient.to_string()),
                ("accessor", accessor.to_string()),
                ("seq", seq.to_string()),
                ("basis", basis.as_str_name().to_string()),
            ],
        );
    }
    Ok(())
}
