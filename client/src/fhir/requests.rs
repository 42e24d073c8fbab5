//! Sealed prescriptions and lab orders, once opened, as FHIR R4
//! `MedicationRequest` and `ServiceRequest`.

use serde_json::{json, Value};

use super::{fhir_id, LOINC, RECORD_ID, RXNORM, UCUM};
use crate::read_path::documents::{Content, Document};
use crate::read_path::open::AmendmentLinks;
use ehr_ledger::crypto::Address;
use ehr_ledger::time::rfc3339;

/// Dose units a prescription is written in that are UCUM codes; any other
/// unit goes out as text only, never as a UCUM code nobody checked.
const UCUM_DOSE_UNITS: &[&str] = &[
    "mg",
    "g",
    "ug",
    "ng",
    "kg",
    "mL",
    "L",
    "[iU]",
    "U",
    "meq",
    "mmol",
    "{tbl}",
    "{capsule}",
    "{puff}",
    "{drop}",
    "%",
    "mg/kg",
    "mg/mL",
];

/// The resource for an opened order or prescription: `record_id` is its id
/// on chain, `author` the party who wrote it; `None` for other documents.
///
/// An amendment shows (`links`, from the proven anchor): a superseded
/// request is `entered-in-error`, its correction names it
/// (`priorPrescription`, `replaces`).
pub fn request(
    record_id: &str,
    author: &str,
    doc: &Document,
    patient: &Address,
    links: &AmendmentLinks,
) -> Option<Value> {
    let mut r = unamended(record_id, author, doc, patient)?;
    if !links.superseded_by.is_empty() {
        r["status"] = json!("entered-in-error");
    }
    if !links.amends.is_empty() {
        let kind = r["resourceType"].as_str().unwrap_or_default().to_string();
        let earlier = json!({ "reference": format!("{kind}/{}", fhir_id(&links.amends)) });
        if kind == "MedicationRequest" {
            r["priorPrescription"] = earlier;
        } else {
            r["replaces"] = json!([earlier]);
        }
    }
    Some(r)
}

fn unamended(record_id: &str, author: &str, doc: &Document, patient: &Address) -> Option<Value> {
    let common = |kind: &str| {
        json!({
            "resourceType": kind,
            "id": fhir_id(record_id),
            "identifier": [{ "system": RECORD_ID, "value": record_id }],
            "status": "active",
            "intent": "order",
            "subject": { "reference": format!("Patient/{patient}") },
            "authoredOn": rfc3339(doc.written_at),
            "requester": { "reference": format!("Practitioner/{}", fhir_id(author)) }
        })
    };
    match &doc.content {
        Content::Prescription {
            drug_code,
            dose,
            unit,
            quantity,
            refills,
        } => {
            let mut r = common("MedicationRequest");
            r["medicationCodeableConcept"] = json!({
                "coding": [{ "system": RXNORM, "code": drug_code }],
                "text": format!("RxNorm {drug_code}")
            });
            let text = format!("{dose} {unit}");
            let mut dosage = json!({ "text": text });
            if let (Ok(value), true) = (
                dose.parse::<f64>(),
                UCUM_DOSE_UNITS.contains(&unit.as_str()),
            ) {
                if value.is_finite() && value > 0.0 {
                    dosage["doseAndRate"] = json!([{
                        "doseQuantity": { "value": value, "unit": unit, "system": UCUM, "code": unit }
                    }]);
                }
            }
            r["dosageInstruction"] = json!([dosage]);
            r["dispenseRequest"] = json!({
                "numberOfRepeatsAllowed": refills,
                "quantity": { "value": quantity }
            });
            Some(r)
        }
        Content::LabOrder { test_code, lab_org } => {
            let mut r = common("ServiceRequest");
            r["category"] = json!([{
                "coding": [{ "system": "http://snomed.info/sct", "code": "108252007", "display": "Laboratory procedure" }]
            }]);
            r["code"] = json!({ "coding": [{ "system": LOINC, "code": test_code }], "text": format!("LOINC {test_code}") });
            r["performer"] = json!([{ "display": lab_org }]);
            Some(r)
        }
        // A result is reported, not requested.
        Content::LabResult { .. } | Content::Demographics(_) | Content::Statement { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehr_ledger::crypto::SecretKey;

    #[test]
    fn a_prescription_is_a_medication_request_with_a_ucum_dose_only_when_it_is_one() {
        let patient = SecretKey::from_seed("alice").address();
        let doc = |unit: &str| Document {
            patient: patient.to_string(),
            content: Content::Prescription {
                drug_code: "197361".into(),
                dose: "5".into(),
                unit: unit.into(),
                quantity: 30,
                refills: 1,
            },
            written_at: 1_767_225_600,
        };
        let r = request(
            "rx-01",
            "ehr1doc",
            &doc("mg"),
            &patient,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(r["resourceType"], "MedicationRequest");
        assert_eq!(
            r["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"],
            "mg"
        );
        assert_eq!(r["dispenseRequest"]["numberOfRepeatsAllowed"], 1);
        let odd = request(
            "rx-02",
            "ehr1doc",
            &doc("spoonful"),
            &patient,
            &Default::default(),
        )
        .unwrap();
        assert!(odd["dosageInstruction"][0].get("doseAndRate").is_none());
        assert_eq!(odd["dosageInstruction"][0]["text"], "5 spoonful");
    }
}
