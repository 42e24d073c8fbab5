//! Path and query parameters, each refused with its code and a sentence.

use std::collections::HashMap;

use ehr_client::read_path::api::MAX_PAGE;
use ehr_ledger::crypto::Address;
use ehr_ledger::ledger::actions::audit::{fits, purpose_word};
use ehr_ledger::proto::{AccessBasis, Category, Purpose};

use crate::error::{ErrorCode, Failure};

pub(super) fn patient_address(s: &str) -> Result<Address, Failure> {
    s.parse::<Address>().map_err(|_| {
        Failure::new(
            ErrorCode::BadPatient,
            format!("{s:?} is not a patient address (ehr1… or 40 hex digits)"),
        )
    })
}

pub(super) fn category_param(p: &HashMap<String, String>) -> Result<Category, Failure> {
    let name = p.get("category").map(String::as_str).ok_or_else(|| {
        Failure::new(
            ErrorCode::BadCategory,
            "say which category: category=vitals, labs, medications, notes, imaging, demographics or all",
        )
    })?;
    category(name)
}

pub(super) fn category(name: &str) -> Result<Category, Failure> {
    ehr_ledger::ledger::access::category_named(name).ok_or_else(|| {
        Failure::new(
            ErrorCode::BadCategory,
            format!("{name:?} is not a category: vitals, labs, medications, notes, imaging, demographics or all"),
        )
    })
}

pub(super) fn time_param(
    p: &HashMap<String, String>,
    name: &'static str,
) -> Result<Option<i64>, Failure> {
    p.get(name)
        .map(|s| {
            ehr_ledger::time::parse_rfc3339(s).ok_or_else(|| {
                Failure::new(
                    ErrorCode::BadTime,
                    format!("{name}={s:?} is not an RFC 3339 time such as 2026-11-24T08:00:00Z"),
                )
            })
        })
        .transpose()
}

pub(super) fn int_param(
    p: &HashMap<String, String>,
    name: &'static str,
    default: i64,
) -> Result<i64, Failure> {
    match p.get(name) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| {
            Failure::new(
                ErrorCode::BadParameter,
                format!("{name}={s:?} is not a whole number"),
            )
        }),
    }
}

/// Most LOINC codes one read may name.
const MAX_CODES: usize = 16;

/// `loinc=8867-4,2708-6`: the codes a read is limited to.
pub(super) fn loinc_param(p: &HashMap<String, String>) -> Result<Option<Vec<String>>, Failure> {
    let Some(list) = p.get("loinc") else {
        return Ok(None);
    };
    let codes: Vec<String> = list.split(',').map(|c| c.trim().to_string()).collect();
    let well_formed = |c: &String| {
        !c.is_empty() && c.len() <= 16 && c.chars().all(|ch| ch.is_ascii_digit() || ch == '-')
    };
    if codes.len() > MAX_CODES || !codes.iter().all(well_formed) {
        return Err(Failure::new(
            ErrorCode::BadParameter,
            format!(
                "loinc={list:?}: name 1 to {MAX_CODES} LOINC codes such as 8867-4, separated by commas"
            ),
        ));
    }
    Ok(Some(codes))
}

pub(super) fn limit_param(p: &HashMap<String, String>) -> Result<i64, Failure> {
    let limit = int_param(p, "limit", 500)?;
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Failure::new(
            ErrorCode::BadParameter,
            format!("limit must be 1..={MAX_PAGE}, got {limit}"),
        ));
    }
    Ok(limit)
}

pub(super) fn purpose_param(
    p: &HashMap<String, String>,
    basis: AccessBasis,
) -> Result<Purpose, Failure> {
    let default = match basis {
        AccessBasis::Emergency => Purpose::Emergency,
        AccessBasis::Patient | AccessBasis::Guardian => Purpose::PatientRequest,
        AccessBasis::HomeOrganisation => Purpose::Operations,
        _ => Purpose::Treatment,
    };
    let purpose = match p.get("purpose").map(String::as_str) {
        None => default,
        Some("treatment") => Purpose::Treatment,
        Some("emergency") => Purpose::Emergency,
        Some("patient_request") => Purpose::PatientRequest,
        Some("payment") => Purpose::Payment,
        Some("operations") => Purpose::Operations,
        Some(other) => return Err(Failure::new(ErrorCode::BadPurpose,
            format!("{other:?} is not a purpose: treatment, emergency, patient_request, payment or operations"),
        )),
    };
    // The ledger holds the purpose against the basis too (and flags what
    // does not fit); a reader is told here, before anything is served.
    if !fits(purpose, basis) {
        return Err(Failure::new(
            ErrorCode::BadPurpose,
            format!(
                "you read these records as {} ({}): the purpose {} does not fit it — {}",
                basis_name(basis).to_lowercase(),
                match basis {
                    AccessBasis::Patient | AccessBasis::Guardian => "the patient or their guardian",
                    AccessBasis::Emergency => "under an emergency access",
                    AccessBasis::HomeOrganisation =>
                        "the front desk of the hospital that enrolled the patient",
                    _ => "under a grant",
                },
                purpose_word(purpose),
                match basis {
                    AccessBasis::Patient | AccessBasis::Guardian => "use patient_request",
                    AccessBasis::Emergency => "use emergency or treatment",
                    AccessBasis::HomeOrganisation => "use operations",
                    _ => "use treatment, payment or operations",
                }
            ),
        ));
    }
    Ok(purpose)
}

/// The cursor of the next page: set when this page is full.
pub(super) fn next_after(count: usize, limit: i64, last_seq: Option<i64>) -> Option<i64> {
    last_seq.filter(|_| count as i64 == limit)
}

pub(super) fn basis_name(b: AccessBasis) -> String {
    b.as_str_name()
        .trim_start_matches("ACCESS_BASIS_")
        .to_string()
}
