//! Every kind of FHIR resource the project emits — each vital sign under its
//! profile, a blood-pressure panel and a lone systolic reading, both glucose
//! codes as laboratory results, Patients bare and named, a Device, the two
//! kinds of AuditEvent, MedicationRequests (a UCUM dose and a unit that is
//! not one), a ServiceRequest, collection and searchset Bundles and an
//! OperationOutcome — passes HAPI FHIR's R4 validator with zero errors. And
//! the validator is a real judge: resources broken the ways the old export
//! was broken are refused.

use ehr_client::codes::Measurements;
use ehr_client::fhir::{self, observation::Record, people, requests, Link};
use ehr_client::read_path::documents::{Content, Document};
use ehr_client::read_path::open::AmendmentLinks;
use ehr_client::vitals::VITALS;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{AccessBasis, AuditEntry, AuditKind, Purpose, Reading};
use serde_json::{json, Value};

fn reading(device: &str, seq: u64, loinc: &str, value: f64, at: i64) -> Reading {
    let unit = ehr_client::vitals::vital(loinc).unwrap().unit;
    Reading {
        device_id: device.into(),
        seq,
        measured_at_ms: at,
        loinc: loinc.into(),
        value,
        unit: unit.into(),
    }
}

fn every_kind() -> Vec<(String, Value)> {
    let patient = SecretKey::from_seed("alice").address();
    let doctor = SecretKey::from_seed("doctor").address();
    let t = 1_767_225_600_123;
    let mut readings: Vec<(String, Reading)> = VITALS
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let device = format!("dev-{i}");
            let value = (v.typical.0 + v.typical.1) / 2.0;
            (
                format!("{device}:1"),
                reading(&device, 1, v.loinc, value, t),
            )
        })
        .collect();
    // A lone systolic reading, not paired with a diastolic one.
    readings.push(("bp-2:1".into(), reading("bp-2", 1, "8480-6", 121.0, t + 9)));
    let records: Vec<Record> = readings
        .iter()
        .map(|(id, r)| Record {
            record_id: id,
            reading: r,
        })
        .collect();
    let observations = fhir::observations(&records, &patient, &Measurements::seed());
    // The table's systolic and diastolic from one device would pair; here
    // they come from two devices (dev-2, dev-3), and a cuff's pair is added.
    let cuff = [
        reading("cuff", 1, "8480-6", 118.0, t),
        reading("cuff", 2, "8462-4", 76.0, t),
    ];
    let panel = fhir::observations(
        &[
            Record {
                record_id: "cuff:1",
                reading: &cuff[0],
            },
            Record {
                record_id: "cuff:2",
                reading: &cuff[1],
            },
        ],
        &patient,
        &Measurements::seed(),
    );
    assert_eq!(panel.len(), 1, "one panel of the cuff's pair");

    let mut out: Vec<(String, Value)> = Vec::new();
    for o in observations.iter().chain(&panel) {
        out.push((
            format!("Observation {}", o["code"]["coding"][0]["code"]),
            o.clone(),
        ));
    }
    let demographics = people::Demographics {
        given: vec!["Alice".into()],
        family: "Martin".into(),
        birth_date: Some("1984-03-07".into()),
        gender: Some("female".into()),
        mrns: vec![people::Mrn {
            organisation: "general".into(),
            value: "G-00042".into(),
        }],
    };
    // A code of the directory as $lookup answers it: active, and retired.
    let seed = ehr_ledger::ledger::genesis::seed_codes();
    let heart_rate = ehr_ledger::proto::Concept {
        entry: seed
            .iter()
            .find(|c| c.code == "8867-4")
            .and_then(|c| c.entry().ok()),
        status: ehr_ledger::proto::ConceptStatus::Active as i32,
        ..Default::default()
    };
    let glucose = ehr_ledger::proto::Concept {
        entry: seed
            .iter()
            .find(|c| c.code == "2339-0")
            .and_then(|c| c.entry().ok()),
        status: ehr_ledger::proto::ConceptStatus::Retired as i32,
        retired_by: 4,
        reason: "reported in mmol/L".into(),
        replaced_by: "15074-8".into(),
        ..Default::default()
    };
    out.push((
        "Parameters $lookup active".into(),
        fhir::lookup::lookup(&heart_rate),
    ));
    out.push((
        "Parameters $lookup retired".into(),
        fhir::lookup::lookup(&glucose),
    ));
    out.push(("Patient bare".into(), people::patient(&patient, None)));
    out.push((
        "Patient named".into(),
        people::patient(&patient, Some(&demographics)),
    ));
    out.push(("Device".into(), people::device("hr-1", &patient)));

    let entry = AuditEntry {
        seq: 3,
        patient: patient.0.to_vec(),
        accessor: doctor.0.to_vec(),
        logged_by: doctor.0.to_vec(),
        kind: AuditKind::Disclosure as i32,
        purpose: Purpose::Treatment as i32,
        basis: AccessBasis::Grant as i32,
        record_ids: vec!["hr-1:1".into(), "hr-1:2".into()],
        height: 12,
        block_time: 1_767_225_600,
        ..Default::default()
    };
    let emergency = AuditEntry {
        seq: 4,
        kind: AuditKind::EmergencyOpened as i32,
        purpose: Purpose::Emergency as i32,
        basis: AccessBasis::Emergency as i32,
        emergency: true,
        justification: "unresponsive in the ward".into(),
        record_ids: vec![],
        ..entry.clone()
    };
    out.push(("AuditEvent disclosure".into(), fhir::audit_event(&entry)));
    out.push(("AuditEvent emergency".into(), fhir::audit_event(&emergency)));
    let recovery = AuditEntry {
        seq: 5,
        purpose: Purpose::KeyRecovery as i32,
        basis: AccessBasis::Patient as i32,
        accessor: patient.0.to_vec(),
        ..entry.clone()
    };
    out.push((
        "AuditEvent key recovery".into(),
        fhir::audit_event(&recovery),
    ));

    let doc = |content| Document {
        patient: patient.to_string(),
        content,
        written_at: 1_767_225_600,
    };
    let rx = |unit: &str| Content::Prescription {
        drug_code: "197361".into(),
        dose: "5".into(),
        unit: unit.into(),
        quantity: 30,
        refills: 1,
    };
    let author = doctor.to_string();
    let none = AmendmentLinks::default();
    out.push((
        "MedicationRequest".into(),
        requests::request("rx-0a1b", &author, &doc(rx("mg")), &patient, &none).unwrap(),
    ));
    out.push((
        "MedicationRequest non-UCUM unit".into(),
        requests::request("rx-0a1c", &author, &doc(rx("spoonful")), &patient, &none).unwrap(),
    ));
    // An accepted amendment: the superseded request, and its correction.
    let superseded = AmendmentLinks {
        superseded_by: "correction-1".into(),
        ..Default::default()
    };
    let correction = AmendmentLinks {
        amends: "rx-0a1b".into(),
        amendment_id: 1,
        ..Default::default()
    };
    out.push((
        "MedicationRequest superseded by an amendment".into(),
        requests::request("rx-0a1b", &author, &doc(rx("mg")), &patient, &superseded).unwrap(),
    ));
    out.push((
        "MedicationRequest correcting another".into(),
        requests::request(
            "correction-1",
            &author,
            &doc(rx("mg")),
            &patient,
            &correction,
        )
        .unwrap(),
    ));
    out.push((
        "ServiceRequest".into(),
        requests::request(
            "order-0a1d",
            &author,
            &doc(Content::LabOrder {
                test_code: "2345-7".into(),
                lab_org: "general".into(),
            }),
            &patient,
            &correction,
        )
        .unwrap(),
    ));

    let all: Vec<Value> = out.iter().map(|(_, r)| r.clone()).collect();
    out.push(("Bundle collection".into(), fhir::collection(all.clone())));
    let base = "https://fhir.general.example/fhir";
    out.push((
        "Bundle searchset".into(),
        fhir::searchset(
            base,
            observations.clone(),
            vec![people::patient(&patient, Some(&demographics))],
            Some(40),
            vec![
                Link {
                    relation: "self",
                    url: format!("{base}/Observation?patient={patient}&_count=10"),
                },
                Link {
                    relation: "next",
                    url: format!("{base}/Observation?patient={patient}&_count=10&_page=x"),
                },
            ],
        ),
    ));
    // A page as the API answers it: a hundred heart rates.
    let page: Vec<(String, Reading)> = (1..=100)
        .map(|i| {
            (
                format!("hr-9:{i}"),
                reading(
                    "hr-9",
                    i,
                    "8867-4",
                    60.0 + (i % 40) as f64,
                    t + i as i64 * 1000,
                ),
            )
        })
        .collect();
    let page: Vec<Record> = page
        .iter()
        .map(|(id, r)| Record {
            record_id: id,
            reading: r,
        })
        .collect();
    out.push((
        "Bundle searchset of 100".into(),
        fhir::searchset(
            base,
            fhir::observations(&page, &patient, &Measurements::seed()),
            vec![],
            None,
            vec![],
        ),
    ));
    out.push((
        "Bundle empty searchset".into(),
        fhir::searchset(base, vec![], vec![], Some(0), vec![]),
    ));
    out.push((
        "OperationOutcome".into(),
        fhir::operation_outcome(
            "error",
            "forbidden",
            "no_grant",
            "You hold no current read grant for this patient's vital signs.",
        ),
    ));
    out
}

#[test]
fn every_kind_of_fhir_resource_the_project_emits_passes_hapis_validator() {
    let dir = tempfile::tempdir().unwrap();
    let resources = every_kind();
    let v = ehr_testkit::fhir::validate(dir.path(), &resources).expect("the validator runs");
    let errors = v.errors();
    assert!(
        errors.is_empty(),
        "{} error(s):\n{}",
        errors.len(),
        errors.join("\n")
    );
    eprintln!(
        "{} files valid; {:.0} resources/s (each Bundle entry counted) after {} ms loading R4's definitions",
        v.resources.len(),
        v.per_second(),
        v.first_ms
    );
}

#[test]
fn the_validator_refuses_what_the_old_export_got_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let patient = SecretKey::from_seed("alice").address();
    let good = fhir::observations(
        &[Record {
            record_id: "ox-1:1",
            reading: &reading("ox-1", 1, "59408-5", 97.0, 1_767_225_600_000),
        }],
        &patient,
        &Measurements::seed(),
    )
    .remove(0);
    // Oxygen saturation coded only as pulse oximetry, under the oxygensat profile.
    let mut only_59408 = good.clone();
    only_59408["code"]["coding"] = json!([{ "system": "http://loinc.org", "code": "59408-5" }]);
    // A unit string the device sent, passed off as a UCUM code.
    let mut bpm = good.clone();
    bpm["valueQuantity"]["code"] = json!("bpm");
    // A collection that carries a total.
    let mut total = fhir::collection(vec![good.clone()]);
    total["total"] = json!(1);
    let bad = [
        ("2708-6 missing".to_string(), only_59408),
        ("unit not UCUM".to_string(), bpm),
        ("collection with total".to_string(), total),
    ];
    let v = ehr_testkit::fhir::validate(dir.path(), &bad).expect("the validator runs");
    for (name, errors) in &v.resources {
        assert!(!errors.is_empty(), "{name} passed the validator");
    }
}
