//! `GET [base]/CodeSystem/$lookup?system=…&code=…`: a code of the
//! consortium's directory (LOINC, ICD-10-CM, SNOMED CT), proven from the
//! chain. The directory is public: no clinician is asked for, and nothing is
//! disclosed or logged.

use axum::extract::{Query, State};
use axum::response::Response;
use ehr_client::codes;
use ehr_client::fhir::lookup::{lookup, system_of_uri};
use ehr_ledger::ledger::codes::name;
use std::collections::HashMap;

use super::Shared;
use crate::outcome::{resource, FhirError};

pub async fn lookup_code(
    State(api): Shared,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, FhirError> {
    let (Some(uri), Some(code)) = (params.get("system"), params.get("code")) else {
        return Err(FhirError::invalid(
            "bad_lookup",
            "$lookup needs system and code: ?system=http://loinc.org&code=8867-4",
        ));
    };
    let system = system_of_uri(uri).ok_or_else(|| {
        let shown: String = uri.chars().take(100).collect();
        FhirError::invalid(
            "unknown_system",
            format!("{shown} is not a code system of the directory: http://loinc.org, http://hl7.org/fhir/sid/icd-10-cm or http://snomed.info/sct"),
        )
    })?;
    // The code's shape for its system, before the chain is asked anything.
    ehr_ledger::tx::validate::directory_code("code", system as i32, code)
        .map_err(|r| FhirError::invalid("bad_code", r.message))?;
    match codes::show(&api.chain, system, code)
        .await
        .map_err(FhirError::chain)?
    {
        Some(concept) => Ok(resource(lookup(&concept))),
        None => Err(FhirError::not_found(
            "unknown_code",
            format!(
                "the consortium's directory has no {} code {code} (proven absent)",
                name(system)
            ),
        )),
    }
}
