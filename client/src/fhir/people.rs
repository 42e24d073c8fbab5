//! The Patient and Device resources the Observations point at.
//!
//! A Patient's id is their ledger address. What a person is called, born and
//! numbered by each hospital is health data: it travels sealed (a document
//! the front desk or the patient encrypts, `Demographics`), and appears here
//! only for a reader who opened it.

use serde_json::{json, Value};

use super::{fhir_id, LEDGER_ADDRESS};
pub use crate::read_path::demographics::{Demographics, Mrn};
use ehr_ledger::crypto::Address;

/// The identifier system of an organisation's medical record numbers.
pub fn mrn_system(organisation: &str) -> String {
    format!("urn:ehr-ledger:mrn:{}", fhir_id(organisation))
}

/// The Patient: their address always; name, birth date, gender and record
/// numbers when the reader could open their demographics.
pub fn patient(address: &Address, demographics: Option<&Demographics>) -> Value {
    let mut identifiers = vec![json!({ "system": LEDGER_ADDRESS, "value": address.to_string() })];
    let mut p = json!({ "resourceType": "Patient", "id": address.to_string(), "active": true });
    if let Some(d) = demographics {
        identifiers.extend(d.mrns.iter().map(|m| {
            json!({
                "use": "usual",
                "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number" }] },
                "system": mrn_system(&m.organisation),
                "value": m.value,
                "assigner": { "display": m.organisation }
            })
        }));
        let mut name = json!({ "use": "official", "text": d.full_name() });
        if !d.family.is_empty() {
            name["family"] = json!(d.family);
        }
        if !d.given.is_empty() {
            name["given"] = json!(d.given);
        }
        p["name"] = json!([name]);
        if let Some(g) = &d.gender {
            p["gender"] = json!(g);
        }
        if let Some(b) = &d.birth_date {
            p["birthDate"] = json!(b);
        }
    }
    p["identifier"] = json!(identifiers);
    p
}

/// The Device a reading came from, bound to `patient` on chain.
pub fn device(device_id: &str, patient: &Address) -> Value {
    json!({
        "resourceType": "Device",
        "id": fhir_id(device_id),
        "identifier": [{ "system": "urn:ehr-ledger:device", "value": device_id }],
        "status": "active",
        "deviceName": [{ "name": device_id, "type": "user-friendly-name" }],
        "patient": { "reference": format!("Patient/{patient}") }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_path::demographics::alice;
    use ehr_ledger::crypto::SecretKey;

    #[test]
    fn a_patient_is_named_only_from_opened_demographics() {
        let a = SecretKey::from_seed("alice").address();
        let bare = patient(&a, None);
        assert_eq!(bare["id"], a.to_string());
        assert!(bare.get("name").is_none());
        let p = patient(&a, Some(&alice()));
        assert_eq!(p["name"][0]["text"], "Alice M. Martin");
        assert_eq!(p["birthDate"], "1984-03-07");
        assert_eq!(p["identifier"][1]["value"], "G-00042");
        assert_eq!(p["identifier"][1]["system"], "urn:ehr-ledger:mrn:general");
    }
}
