//! `GET [base]/metadata`: the CapabilityStatement — what this API answers
//! and how callers authenticate.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::Shared;
use crate::outcome::resource;

pub async fn capability_statement(State(api): Shared) -> Response {
    let by_patient = json!({ "name": "patient", "type": "reference", "documentation": "The patient's id (their ledger address, ehr1…); required" });
    let search = |kind: &str, params: serde_json::Value| {
        json!({
            "type": kind,
            "interaction": [{ "code": "search-type" }],
            "searchParam": params
        })
    };
    resource(json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-05",
        "publisher": "ehr-ledger",
        "kind": "instance",
        "software": { "name": "ehr-fhir", "version": env!("CARGO_PKG_VERSION") },
        "implementation": {
            "description": "ehr-ledger's FHIR API: records read through the consortium's gateway as a clinician of this hospital, decrypted and verified against the chain here",
            "url": api.base
        },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Every read of records is made for one clinician of this hospital and logged in the patient's audit trail on chain under that clinician. Records that fail verification are never answered as data: an OperationOutcome entry names them.",
            "security": {
                "cors": false,
                "service": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "Certificates", "display": "Certificates" }] }],
                "description": "Mutual TLS: the caller shows a client certificate the hospital's authority issued; the API's configuration says which clinicians each certificate may act for, and a caller acting for several names the clinician of each request in the X-On-Behalf-Of header (a key name or ledger address)."
            },
            "resource": [
                { "type": "Patient", "interaction": [{ "code": "read" }] },
                search("Observation", json!([
                    by_patient,
                    { "name": "code", "type": "token", "documentation": "LOINC codes ([http://loinc.org|]code, comma-separated); 85354-9 for blood-pressure panels" },
                    { "name": "date", "type": "date", "documentation": "When measured; prefixes eq, ge, gt, le, lt; repeat to bound both ends" }
                ])),
                search("AuditEvent", json!([by_patient])),
                search("MedicationRequest", json!([by_patient])),
                search("ServiceRequest", json!([by_patient])),
                {
                    "type": "CodeSystem",
                    "operation": [{ "name": "lookup", "definition": "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup" }]
                }
            ]
        }]
    }))
}
