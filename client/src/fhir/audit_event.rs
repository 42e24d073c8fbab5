//! The audit trail as FHIR R4 AuditEvents: one per disclosure or emergency
//! access the chain logged, with the reader as the requesting agent, the
//! purpose of use, the legal basis as the agent's policy, and the records
//! read as entities.

use serde_json::{json, Value};

use ehr_ledger::crypto::Address;
use ehr_ledger::proto::{AccessBasis, AuditEntry, AuditKind, Purpose};
use ehr_ledger::time::rfc3339;

use super::RECORD_ID;

/// An AuditEvent for one entry of a patient's audit trail.
pub fn audit_event(entry: &AuditEntry) -> Value {
    let patient = Address::from_slice(&entry.patient)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let accessor = Address::from_slice(&entry.accessor)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let emergency = entry.kind == AuditKind::EmergencyOpened as i32;
    // DICOM's audit event types: a break-glass opening is a security alert;
    // a disclosure, a read of the patient's record.
    let (type_code, type_display) = if emergency {
        ("110113", "Security Alert")
    } else {
        ("110110", "Patient Record")
    };
    let purpose = match Purpose::try_from(entry.purpose) {
        Ok(Purpose::Treatment) => ("TREAT", "treatment"),
        Ok(Purpose::Emergency) => ("ETREAT", "Emergency Treatment"),
        Ok(Purpose::PatientRequest) => ("PATRQT", "patient requested"),
        Ok(Purpose::Payment) => ("HPAYMT", "healthcare payment"),
        Ok(Purpose::Operations) => ("HOPERAT", "healthcare operations"),
        // The patient's own keys re-wrapped after a recovery: administration
        // of her access, not care.
        Ok(Purpose::KeyRecovery) => ("HSYSADMIN", "health system administration"),
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
            entities
                .push(json!({ "what": { "identifier": { "system": RECORD_ID, "value": id } } }));
        }
    }
    // An emergency is said by the purpose (ETREAT) and the access basis; the
    // clinician's justification goes with the patient entity.
    if (emergency || entry.emergency) && !entry.justification.is_empty() {
        event["entity"][0]["description"] = json!(entry.justification);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehr_ledger::crypto::SecretKey;

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
        assert_eq!(e["entity"][0]["description"], "unresponsive");
        let read = audit_event(&AuditEntry {
            kind: AuditKind::Disclosure as i32,
            emergency: false,
            record_ids: vec!["hr-1:7".into()],
            purpose: Purpose::Treatment as i32,
            ..entry
        });
        assert_eq!(read["action"], "R");
        assert!(read["entity"][0].get("description").is_none());
        assert_eq!(read["entity"][1]["what"]["identifier"]["value"], "hr-1:7");
    }
}
