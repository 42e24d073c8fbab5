//! A doctor's verified records export as an HL7 FHIR R4 Bundle of
//! Observations, and alice's audit trail as AuditEvents, each with the
//! elements FHIR R4 requires and the ones a receiving system needs.

use ehr_testkit::stack::*;
use serde_json::Value;

fn resources(bundle: &Value, kind: &str) -> Vec<Value> {
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            assert!(e["fullUrl"]
                .as_str()
                .unwrap()
                .starts_with("urn:ehr-ledger:"));
            e["resource"].clone()
        })
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

#[test]
fn records_and_the_audit_trail_export_as_fhir_r4() {
    let s = Stack::start();
    s.alice_heart_rates(4);
    let alice = s.cast.alice.address().to_string();

    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice", "--fhir"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bundle: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let observations = resources(&bundle, "Observation");
    assert_eq!(observations.len(), 4);
    // The Patient and the Device they point at are in the Bundle too.
    assert_eq!(resources(&bundle, "Patient")[0]["id"], alice);
    assert_eq!(resources(&bundle, "Device")[0]["id"], "hr-1");
    let records_bundle = bundle.clone();
    for (i, o) in observations.iter().enumerate() {
        // Required by R4: status, code.
        assert_eq!(o["status"], "final");
        assert_eq!(
            o["meta"]["profile"][0],
            "http://hl7.org/fhir/StructureDefinition/heartrate"
        );
        let coding = &o["code"]["coding"][0];
        assert_eq!(coding["system"], "http://loinc.org");
        assert_eq!(coding["code"], "8867-4");
        assert_eq!(o["category"][0]["coding"][0]["code"], "vital-signs");
        assert_eq!(o["subject"]["reference"], format!("Patient/{alice}"));
        let q = &o["valueQuantity"];
        assert_eq!(q["value"], 61.0 + i as f64);
        assert_eq!(q["unit"], "/min");
        assert_eq!(q["system"], "http://unitsofmeasure.org");
        assert_eq!(q["code"], "/min");
        let when = o["effectiveDateTime"].as_str().unwrap();
        assert!(ehr_ledger::time::parse_rfc3339(when).is_some(), "{when}");
        assert!(when.ends_with('Z'));
        assert_eq!(o["device"]["display"], "hr-1");
        assert_eq!(o["identifier"][0]["value"], format!("hr-1:{}", i + 1));
        let id = o["id"].as_str().unwrap();
        assert!(
            !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        );
    }

    // An emergency read too, so the trail holds both kinds.
    let out = s.ehr(&[
        "tx",
        "--from",
        "doctor2",
        "emergency",
        "--patient",
        "alice",
        "--reason",
        "life-threatening",
        "--justification",
        "cardiac arrest in the ward",
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(s
        .ehr(&["fetch", "--as", "doctor2", "--patient", "alice"])
        .status
        .success());
    s.disclosures_logged();

    let out = s.ehr(&["audit", "alice", "--fhir"]);
    assert!(out.status.success());
    let bundle: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let events = resources(&bundle, "AuditEvent");
    assert_eq!(events.len(), 3, "{bundle:#}");
    for e in &events {
        // Required by R4: type, recorded, agent (with requestor), source (with observer).
        assert!(e["type"]["code"].is_string());
        assert!(ehr_ledger::time::parse_rfc3339(e["recorded"].as_str().unwrap()).is_some());
        let agent = &e["agent"][0];
        assert_eq!(agent["requestor"], true);
        assert!(agent["who"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Practitioner/ehr1"));
        assert!(e["source"]["observer"]["display"].is_string());
        assert_eq!(
            e["entity"][0]["what"]["reference"],
            format!("Patient/{alice}")
        );
        assert!(e["purposeOfEvent"][0]["coding"][0]["code"].is_string());
    }
    let emergencies: Vec<_> = events
        .iter()
        .filter(|e| e["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT")
        .collect();
    assert_eq!(emergencies.len(), 2, "the opening and the emergency read");
    let by_doctor = events
        .iter()
        .find(|e| {
            e["agent"][0]["who"]["reference"] == format!("Practitioner/{}", s.cast.doctor.address())
        })
        .unwrap();
    assert_eq!(by_doctor["purposeOfEvent"][0]["coding"][0]["code"], "TREAT");
    let records: Vec<_> = by_doctor["entity"].as_array().unwrap()[1..]
        .iter()
        .map(|x| {
            x["what"]["identifier"]["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(records, ["hr-1:1", "hr-1:2", "hr-1:3", "hr-1:4"]);

    // HL7's rules, judged by HAPI FHIR's validator: zero errors.
    let dir = tempfile::tempdir().unwrap();
    let judged = ehr_testkit::fhir::validate(
        dir.path(),
        &[
            ("ehr fetch --fhir".to_string(), records_bundle),
            ("ehr audit --fhir".to_string(), bundle),
        ],
    )
    .expect("the validator runs");
    assert_eq!(judged.errors(), Vec::<String>::new());
}
