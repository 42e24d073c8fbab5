//! HL7 FHIR R4: what the project's records look like to a hospital's systems.
//! Every resource here passes HAPI FHIR's validator against R4 core and the
//! profiles it claims (the tests run it on each kind): vital signs under the
//! R4 vital-signs profiles, blood pressure as the 85354-9 panel, glucose as a
//! laboratory result, prescriptions and lab orders as `MedicationRequest` and
//! `ServiceRequest`, the audit trail as `AuditEvent`s, a code of the
//! consortium's directory as `CodeSystem/$lookup`'s `Parameters`. docs/fhir.md
//! lists them.
//!
//! Patients and practitioners are identified by their ledger address
//! (`Patient/ehr1…`, 42 characters of FHIR's id alphabet); records by their
//! record id, under the `urn:ehr-ledger:record` identifier system.

pub mod audit_event;
pub mod bundle;
pub mod lookup;
pub mod observation;
pub mod people;
pub mod requests;

pub use audit_event::audit_event;
pub use bundle::{add_outcome, collection, operation_outcome, searchset, Link};
pub use observation::observations;

pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// The identifier system of a record id (`hr-1:7`, `rx-…`).
pub const RECORD_ID: &str = "urn:ehr-ledger:record";
/// The identifier system of a ledger address (`ehr1…`).
pub const LEDGER_ADDRESS: &str = "urn:ehr-ledger:address";

/// A time in milliseconds as FHIR's instant/dateTime (UTC, milliseconds).
pub fn instant_ms(ms: i64) -> String {
    let base = ehr_ledger::time::rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", base.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// FHIR ids are 1–64 characters of [A-Za-z0-9.-]; anything else becomes '-'.
pub fn fhir_id(s: &str) -> String {
    let id: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if id.is_empty() {
        "-".to_string()
    } else {
        id
    }
}
