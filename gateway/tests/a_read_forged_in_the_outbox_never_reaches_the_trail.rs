//! An insider of the gateway's hospital edits its disclosure outbox: a real
//! read by the doctor copied as a read by the nurse, and another one's
//! declared purpose changed. The chain refuses both (code 39: not backed by
//! the reader's signed request), the trail keeps only what was asked, the
//! gateway says why in its outbox — and, its log stuck, serves nothing.
//! A reader asking with a purpose that does not fit their basis is refused
//! before anything is served.

use std::time::Duration;

use ehr_client::read_path::client::RecordsQuery;
use ehr_ledger::proto::AuditKind;
use ehr_testkit::stack::*;

#[test]
fn a_read_forged_in_the_outbox_never_reaches_the_trail() {
    let s = Stack::start_with_audit_lag(5);
    s.alice_heart_rates(2);
    let alice = s.cast.alice.address();
    let vitals = RecordsQuery::category("vitals");

    // A purpose that does not fit the basis: refused before anything is served.
    let e = s
        .block_on(s.client(&s.cast.doctor).records(
            &alice,
            &RecordsQuery {
                purpose: Some("patient_request".into()),
                ..RecordsQuery::category("vitals")
            },
        ))
        .expect_err("the doctor is not the patient");
    assert_eq!(e.code(), Some("bad_purpose"), "{e}");
    assert!(e.to_string().contains("does not fit"), "{e}");

    // The doctor reads (treatment, under alice's grant): logged and proven.
    s.block_on(s.client(&s.cast.doctor).records(&alice, &vitals))
        .unwrap();
    s.disclosures_logged();
    let before = s.audit_trail(&s.cast.alice).items;
    let doctors = before
        .iter()
        .filter(|e| {
            e.kind == AuditKind::Disclosure as i32 && e.accessor == s.cast.doctor.address().0
        })
        .count();
    assert_eq!(doctors, 1);

    // The insider's edits: the doctor's read copied as the nurse's, and as a
    // read for payment.
    let mut db = s.db.client().unwrap();
    for (accessor, purpose) in [
        (s.nurse.address().to_string(), 1i16),
        (s.cast.doctor.address().to_string(), 4i16),
    ] {
        db.execute(
            "INSERT INTO gateway.disclosures (accessor, patient, category, purpose, record_ids, disclosed_at, request)
             SELECT $1, patient, category, $2, record_ids, disclosed_at, request
             FROM gateway.disclosures WHERE accessor = $3 ORDER BY id LIMIT 1",
            &[&accessor, &purpose, &s.cast.doctor.address().to_string()],
        )
        .unwrap();
    }
    let refused = wait_until(Duration::from_secs(30), || {
        s.db.count(
            "SELECT count(*) FROM gateway.disclosures
             WHERE status = 'pending' AND last_error LIKE '%code 39%'",
        ) >= 1
    });
    assert!(refused, "the chain refuses the forged rows with code 39");
    let reason: String = db
        .query_one(
            "SELECT last_error FROM gateway.disclosures WHERE last_error LIKE '%code 39%' LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        reason.contains("not by the accessor") || reason.contains("not payment"),
        "{reason}"
    );

    // Its log stuck, the gateway serves nothing, and says why.
    assert!(wait_until(Duration::from_secs(30), || s
        .block_on(s.client(&s.cast.doctor).records(&alice, &vitals))
        .is_err_and(|e| e.code() == Some("audit_unavailable"))));

    // The trail holds no read by the nurse and no second read by the doctor.
    let after = s.audit_trail(&s.cast.alice).items;
    assert!(!after
        .iter()
        .any(|e| e.accessor == s.nurse.address().0.to_vec()));
    assert_eq!(
        after
            .iter()
            .filter(|e| e.kind == AuditKind::Disclosure as i32
                && e.accessor == s.cast.doctor.address().0)
            .count(),
        1
    );
}
