//! An insider with write access to PostgreSQL moves one of alice's readings
//! under bob (a pair of bob's with its device, and its row pointed at that
//! pair). The doctor, whom both granted their vitals, reads bob's
//! records: the moved one decrypts and its device signature is good, but its
//! device is bound on chain to alice, so the reader refuses it as bob's.

use ehr_ledger::proto::{action::Kind, *};
use ehr_testkit::stack::*;

#[test]
fn a_record_moved_to_another_patient_does_not_verify_as_theirs() {
    let s = Stack::start();
    s.node.send(
        &s.cast.bob,
        Kind::GrantAccess(GrantAccess {
            patient: s.cast.bob.address().0.to_vec(),
            grantee: Some(Grantee {
                kind: Some(grantee::Kind::Clinician(s.cast.doctor.address().0.to_vec())),
            }),
            categories: vec![Category::Vitals as i32],
            access: AccessLevel::Read as i32,
            expires_at: 4_102_444_800,
        }),
    );
    let ids = s.alice_heart_rates(3);
    let moved = &ids[0];
    let mut db = s.db.client().expect("the test database answers");
    let bob = s.cast.bob.address().to_string();
    // Bob's pair with the record's device, as an insider would add it, and
    // the record's row pointed at it.
    db.execute(
        "INSERT INTO ingest.patient_devices (patient, device_id)
         SELECT $1, device_id FROM ingest.stored_records WHERE record_id = $2",
        &[&bob, moved],
    )
    .unwrap();
    let changed = db
        .execute(
            "UPDATE ingest.records r SET pair_no = p.pair_no
             FROM ingest.stored_records s, ingest.patient_devices p
             WHERE s.record_id = $2 AND r.record_seq = s.record_seq
               AND p.patient = $1 AND p.device_id = s.device_id",
            &[&bob, moved],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "bob"]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains(moved.as_str()))
        .unwrap_or_else(|| panic!("the moved record is served as bob's:\n{text}"));
    assert!(line.contains("NOT VERIFIED"), "{text}");
    assert!(
        line.contains("bound on chain to patient") && line.contains("not the asked patient's"),
        "{line}"
    );
    assert!(!out.status.success(), "{text}");

    // Alice's remaining records still verify as hers.
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    for id in &ids[1..] {
        assert!(
            text.lines()
                .any(|l| l.contains("  verified  ") && l.contains(id.as_str())),
            "{id}:\n{text}"
        );
    }
}
