//! A patient's audit trail in words: who read what, when, why, on what basis;
//! emergencies and reads the chain found no basis for are marked.

use ehr_ledger::crypto::Address;
use ehr_ledger::proto::{AccessBasis, AuditEntry, AuditKind, Purpose};
use ehr_ledger::time::rfc3339;

/// One line per entry, e.g.
/// `#3 2026-11-24T08:00:00Z block 41: ehr1… read 2 record(s) hr-1:1, hr-1:2 — purpose TREATMENT, basis GRANT`.
pub fn describe(e: &AuditEntry) -> String {
    let who = Address::from_slice(&e.accessor)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let what = match AuditKind::try_from(e.kind) {
        Ok(AuditKind::EmergencyOpened) => {
            format!("opened emergency access: {}", e.justification)
        }
        _ => format!(
            "read {} record(s) {}",
            e.record_ids.len(),
            e.record_ids.join(", ")
        ),
    };
    let basis = AccessBasis::try_from(e.basis)
        .map_or("?", |b| b.as_str_name().trim_start_matches("ACCESS_BASIS_"));
    let purpose = Purpose::try_from(e.purpose)
        .map_or("?", |p| p.as_str_name().trim_start_matches("PURPOSE_"));
    let flag = if e.emergency || e.kind == AuditKind::EmergencyOpened as i32 {
        "  [EMERGENCY]"
    } else if e.basis == AccessBasis::None as i32 {
        "  [NO BASIS ON CHAIN]"
    } else {
        ""
    };
    format!(
        "#{} {} block {}: {who} {what} — purpose {purpose}, basis {basis}{flag}",
        e.seq,
        rfc3339(e.block_time),
        e.height
    )
}
