//! A doctor with no grant opens emergency access: the gateway lets them read
//! (re-wrapping each key from the break-glass escrow for them alone), the
//! records decrypt and verify, and alice's trail flags both the opening and
//! the read as emergencies. When the access expires or was never opened, the
//! escrow is never used.

use ehr_client::read_path::client::RecordsQuery;
use ehr_ledger::proto::{AccessBasis, AuditKind, Purpose};
use ehr_testkit::stack::*;

#[test]
fn a_doctor_breaking_the_glass_reads_and_the_trail_flags_it() {
    let s = Stack::start();
    let ids = s.alice_heart_rates(5);
    let alice = s.cast.alice.address();

    // Before: refused.
    let vitals = RecordsQuery::category("vitals");
    let e = s
        .block_on(s.client(&s.doctor2).records(&alice, &vitals))
        .expect_err("no basis yet");
    assert_eq!(e.code(), Some("access_denied"));

    let out = s.ehr(&[
        "tx",
        "--from",
        "doctor2",
        "emergency",
        "--patient",
        "alice",
        "--reason",
        "unconscious",
        "--justification",
        "brought in unconscious after a fall",
    ]);
    assert!(out.status.success(), "{}", stdout(&out));

    let out = s.ehr(&["fetch", "--as", "doctor2", "--patient", "alice"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("allowed by EMERGENCY"), "{text}");
    for id in &ids {
        assert!(
            text.lines().any(|l| l.contains(id)
                && l.trim_start().starts_with("verified")
                && l.contains("re-wrapped under emergency access")),
            "{id}:\n{text}"
        );
    }
    // The re-wrapped keys were made for this doctor only, and never stored.
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.wrapped_keys WHERE reader = '{}'",
            s.doctor2.address()
        )),
        0
    );
    // A key the gateway re-wrapped for doctor2 does not open with anyone else's key.
    let page = s
        .block_on(s.client(&s.doctor2).records(&alice, &vitals))
        .unwrap();
    let item = &page.records[0];
    assert_eq!(item.key_source.as_deref(), Some("emergency"));
    assert!(ehr_client::read_path::open::decrypt(item, &s.doctor2).is_ok());
    assert!(ehr_client::read_path::open::decrypt(item, &s.cast.doctor).is_err());

    s.disclosures_logged();
    let trail = s.audit_trail(&s.cast.alice);
    let opened = trail
        .items
        .iter()
        .find(|e| e.kind == AuditKind::EmergencyOpened as i32)
        .expect("the opening is in the trail");
    assert_eq!(opened.accessor, s.doctor2.address().0.to_vec());
    assert_eq!(opened.justification, "brought in unconscious after a fall");
    let reads: Vec<_> = trail
        .items
        .iter()
        .filter(|e| e.kind == AuditKind::Disclosure as i32)
        .collect();
    assert_eq!(reads.len(), 2);
    for r in reads {
        assert!(r.emergency);
        assert_eq!(r.basis, AccessBasis::Emergency as i32);
        assert_eq!(r.purpose, Purpose::Emergency as i32);
    }
    let out = s.ehr(&["audit", "alice"]);
    let text = stdout(&out);
    let flagged = text.lines().filter(|l| l.contains("[EMERGENCY]")).count();
    assert_eq!(flagged, 3, "{text}");
    assert!(
        text.contains("opened emergency access: brought in unconscious"),
        "{text}"
    );

    // A doctor with a grant never gets the escrow: their own wraps only.
    let page = s
        .block_on(s.client(&s.cast.doctor).records(&alice, &vitals))
        .unwrap();
    assert!(page
        .records
        .iter()
        .all(|r| r.key_source.as_deref() == Some("reader")));
}
