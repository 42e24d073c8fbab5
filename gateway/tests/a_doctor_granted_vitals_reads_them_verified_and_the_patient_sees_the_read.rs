//! Alice granted her doctor her vitals. Her heart-rate readings flow through
//! Kafka, ingest and PostgreSQL; the doctor fetches them from the gateway,
//! decrypts them locally and verifies each against the chain; the read is in
//! alice's audit trail — also after the gateway is killed right after serving.

use ehr_ledger::proto::{AccessBasis, AuditKind, Purpose};
use ehr_testkit::stack::*;
use serde_json::Value;

#[test]
fn a_doctor_granted_vitals_reads_them_verified_and_the_patient_sees_the_read() {
    let mut s = Stack::start();
    let ids = s.alice_heart_rates(12);
    let alice = s.cast.alice.address().to_string();

    // The doctor reads, as the CLI does it: fetch, decrypt, verify.
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", &alice]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("12 record(s)"), "{text}");
    assert!(text.contains("allowed by GRANT"), "{text}");
    for id in &ids {
        let line = text
            .lines()
            .find(|l| l.contains(&format!(" {id} ")))
            .unwrap_or_else(|| panic!("{id} missing:\n{text}"));
        assert!(line.trim_start().starts_with("verified"), "{line}");
        assert!(line.contains("heart rate"), "{line}");
        assert!(line.contains("device signature ok"), "{line}");
    }
    assert!(!text.contains("NOT VERIFIED"), "{text}");

    // The same as JSON: the values the device measured.
    let out = s.ehr(&["--json", "fetch", "--as", "doctor", "--patient", &alice]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verified"], true);
    let first = &json["records"][0];
    assert_eq!(first["record_id"], "hr-1:1");
    assert_eq!(first["reading"]["value"], 61.0);
    assert_eq!(first["reading"]["unit"], "/min");
    assert_eq!(first["key_source"], "reader");
    assert!(first["anchored_at"].as_u64().unwrap() > 0);

    // A time range narrows the answer.
    let out = s.ehr(&[
        "--json",
        "fetch",
        "--as",
        "doctor",
        "--patient",
        &alice,
        "--until",
        "2000-01-01T00:00:00Z",
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["records"].as_array().unwrap().len(), 0);

    // Alice sees both reads, by her doctor, on the basis of her grant.
    s.disclosures_logged();
    let trail = s.audit_trail(&s.cast.alice);
    let reads: Vec<_> = trail
        .items
        .iter()
        .filter(|e| e.kind == AuditKind::Disclosure as i32)
        .collect();
    assert_eq!(reads.len(), 2, "{trail:?}");
    for e in &reads {
        assert_eq!(e.accessor, s.cast.doctor.address().0.to_vec());
        assert_eq!(e.basis, AccessBasis::Grant as i32);
        assert_eq!(e.purpose, Purpose::Treatment as i32);
        assert!(!e.emergency);
        assert_eq!(e.logged_by, s.gateway_key.address().0.to_vec());
        assert_eq!(e.record_ids, ids);
    }
    let out = s.ehr(&["audit", &alice]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{} read 12 record(s)", s.cast.doctor.address())),
        "{text}"
    );
    assert!(text.contains("purpose TREATMENT, basis GRANT"), "{text}");

    // Alice reads her own records: the purpose is her request, the basis herself.
    let out = s.ehr(&["fetch", "--as", "alice", "--patient", "alice"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("allowed by PATIENT"));

    // Served, then the gateway dies before it logs: the outbox still holds the
    // disclosure, and a new gateway logs it.
    let before = s.audit_trail(&s.cast.alice).items.len();
    let page = s
        .block_on(s.client(&s.cast.doctor).records(
            &s.cast.alice.address(),
            &ehr_client::read_path::client::RecordsQuery::category("vitals"),
        ))
        .unwrap();
    assert_eq!(page.records.len(), 12);
    s.gateway.kill_9();
    s.gateway = GatewayProcess::start(s.dir.path(), &s.db, &s.node, &s.gateway_key);
    s.disclosures_logged();
    let after = s.audit_trail(&s.cast.alice).items.len();
    assert!(
        after > before,
        "the served read was not logged: {before} → {after}"
    );
}
