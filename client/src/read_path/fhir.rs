//! HL7 FHIR R4 export: an `Observation` per device reading, an `AuditEvent`
//! per audit-trail entry, in a `Bundle` of type collection. Patients and
//! practitioners are referenced by their ledger address (`Patient/ehr1…`);
//! codes are LOINC, units UCUM.

use serde_json::{json, Value};

use ehr_ledger::crypto::Address;
use ehr_ledger::proto::{AccessBasis, AuditEntry, AuditKind, Purpose, Reading};
use ehr_ledger::time::rfc3339;

pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";

fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let base = rfc3339(secs);
    format!("{}.{frac:03}Z", base.trim_end_matches('Z'))
}

/// An Observation for one reading of `patient`, stored as `record_id`.
pub fn observation(record_id: &str, patient: &Address, reading: &Reading) -> Value {
    let display = crate::vitals::vital(&reading.loinc).map_or("measurement", |v| v.name);
    json!({
        "resourceType": "Observation",
        "id": fhir_id(record_id),
        "identifier": [{ "system": "urn:ehr-ledger:record", "value": record_id }],
        "status": "final",
        "category": [{
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs",
                "display": "Vital Signs"
            }]
        }],
        "code": { "coding": [{ "system": LOINC, "code": reading.loinc, "display": display }], "text": display },
        "subject": { "reference": format!("Patient/{patient}") },
        "effectiveDateTime": rfc3339_ms(reading.measured_at_ms),
        "valueQuantity": { "value": reading.value, "unit": reading.unit, "system": UCUM, "code": reading.unit },
        "device": { "reference": format!("Device/{}", fhir_id(&reading.device_id)), "display": reading.device_id }
    })
}

/// An AuditEvent for one entry of a patient's audit trail.
pub fn audit_event(entry: &AuditEntry) -> Value {
    let patient = Address::from_slice(&entry.patient)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let accessor = Address::from_slice(&entry.accessor)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let emergency = entry.kind == AuditKind::EmergencyOpened as i32;
    let (type_code, type_display) = if emergency {
        ("110113", "Security Alert")
    } else {
        ("110106", "Export")
    };
    let purpose = match Purpose::try_from(entry.purpose) {
        Ok(Purpose::Treatment) => ("TREAT", "treatment"),
        Ok(Purpose::Emergency) => ("ETREAT", "Emergency Treatment"),
        Ok(Purpose::PatientRequest) => ("PATRQT", "patient requested"),
        Ok(Purpose::Payment) => ("HPAYMT", "healthcare payment"),
        Ok(Purpose::Operations) => ("HOPERAT", "healthcare operations"),
        _ => ("HRESCH", "unspecified"),
    };
    let basis =
        AccessBasis::try_from(entry.basis).map_or("ACCESS_BASIS_UNSPECIFIED", |b| b.as_str_name());
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": format!("{}-{}", &patient.trim_start_matches("ehr1"), entry.seq),
        "type": { "system": "http://dicom.nema.org/resources/ontology/DCM", "code": type_code, "display": type_display },
        "action": if emergency { "E" } else { "R" },
        "recorded": rfc3339(entry.block_time),
        "outcome": "0",
        "purposeOfEvent": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose.0, "display": purpose.1 }] }],
        "agent": [{
            "who": { "reference": format!("Practitioner/{accessor}") },
            "requestor": true,
            "policy": [format!("urn:ehr-ledger:access-basis:{basis}")]
        }],
        "source": {
            "site": format!("ehr-ledger block {}", entry.height),
            "observer": { "display": Address::from_slice(&entry.logged_by).map_or_else(|| "ehr-ledger".to_string(), |a| a.to_string()) }
        },
        "entity": [{ "what": { "reference": format!("Patient/{patient}") }, "role": { "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient" } }]
    });
    if let Some(entities) = event["entity"].as_array_mut() {
        for id in &entry.record_ids {
            entities.push(json!({ "what": { "identifier": { "system": "urn:ehr-ledger:record", "value": id } } }));
        }
    }
    if emergency || entry.emergency {
        event["extension"] =
            json!([{ "url": "urn:ehr-ledger:emergency-access", "valueBoolean": true }]);
        if !entry.justification.is_empty() {
            event["entity"][0]["description"] = json!(entry.justification);
        }
    }
    event
}

/// A Bundle of type collection holding `resources`.
pub fn bundle(resources: Vec<Value>) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = format!(
                "urn:ehr-ledger:{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            );
            json!({ "fullUrl": url, "resource": r })
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "collection", "total": entries.len(), "entry": entries })
}

/// FHIR ids are 1–64 characters of [A-Za-z0-9.-].
fn fhir_id(s: &str) -> String {
    let id: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    id.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehr_ledger::crypto::SecretKey;

    fn reading() -> Reading {
        Reading {
            device_id: "hr-1".into(),
            seq: 7,
            measured_at_ms: 1_767_225_600_123,
            loinc: "8867-4".into(),
            value: 72.0,
            unit: "/min".into(),
        }
    }

    #[test]
    fn an_observation_has_every_required_element() {
        let patient = SecretKey::from_seed("alice").address();
        let o = observation("hr-1:7", &patient, &reading());
        assert_eq!(o["resourceType"], "Observation");
        assert_eq!(o["status"], "final", "status is required");
        assert_eq!(o["code"]["coding"][0]["system"], LOINC);
        assert_eq!(o["code"]["coding"][0]["code"], "8867-4");
        assert_eq!(o["code"]["coding"][0]["display"], "heart rate");
        assert_eq!(o["valueQuantity"]["value"], 72.0);
        assert_eq!(o["valueQuantity"]["system"], UCUM);
        assert_eq!(o["valueQuantity"]["code"], "/min");
        assert_eq!(o["effectiveDateTime"], "2026-01-01T00:00:00.123Z");
        assert_eq!(o["subject"]["reference"], format!("Patient/{patient}"));
        assert_eq!(o["device"]["reference"], "Device/hr-1");
        assert_eq!(o["id"], "hr-1-7", "ids are [A-Za-z0-9.-]");
        assert_eq!(o["category"][0]["coding"][0]["code"], "vital-signs");
    }

    #[test]
    fn an_audit_event_has_every_required_element_and_marks_emergencies() {
        let patient = SecretKey::from_seed("alice").address();
        let doctor = SecretKey::from_seed("doctor").address();
        let entry = AuditEntry {
            seq: 3,
            patient: patient.0.to_vec(),
            accessor: doctor.0.to_vec(),
            kind: AuditKind::EmergencyOpened as i32,
            purpose: Purpose::Emergency as i32,
            basis: AccessBasis::Emergency as i32,
            emergency: true,
            justification: "unresponsive".into(),
            height: 12,
            block_time: 1_767_225_600,
            ..Default::default()
        };
        let e = audit_event(&entry);
        assert_eq!(e["resourceType"], "AuditEvent");
        assert!(e["type"]["code"].is_string(), "type is required");
        assert_eq!(
            e["recorded"], "2026-01-01T00:00:00Z",
            "recorded is required"
        );
        assert_eq!(
            e["agent"][0]["requestor"], true,
            "agent.requestor is required"
        );
        assert_eq!(
            e["agent"][0]["who"]["reference"],
            format!("Practitioner/{doctor}")
        );
        assert!(
            e["source"]["observer"].is_object(),
            "source.observer is required"
        );
        assert_eq!(e["purposeOfEvent"][0]["coding"][0]["code"], "ETREAT");
        assert_eq!(e["extension"][0]["valueBoolean"], true);
        let read = audit_event(&AuditEntry {
            kind: AuditKind::Disclosure as i32,
            emergency: false,
            record_ids: vec!["hr-1:7".into()],
            purpose: Purpose::Treatment as i32,
            ..entry
        });
        assert_eq!(read["action"], "R");
        assert!(read.get("extension").is_none());
        assert_eq!(read["entity"][1]["what"]["identifier"]["value"], "hr-1:7");
    }

    #[test]
    fn a_bundle_collects_its_resources() {
        let patient = SecretKey::from_seed("alice").address();
        let b = bundle(vec![
            observation("hr-1:7", &patient, &reading()),
            observation("hr-1:8", &patient, &reading()),
        ]);
        assert_eq!(b["resourceType"], "Bundle");
        assert_eq!(b["type"], "collection");
        assert_eq!(b["total"], 2);
        assert_eq!(b["entry"][1]["resource"]["id"], "hr-1-8");
        assert_eq!(
            b["entry"][0]["fullUrl"],
            "urn:ehr-ledger:Observation/hr-1-7"
        );
    }
}
