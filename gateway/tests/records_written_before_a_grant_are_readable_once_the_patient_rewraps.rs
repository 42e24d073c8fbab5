//! Alice grants a second doctor her vitals after her readings were written:
//! the gateway lets the doctor read, but no key was wrapped for them, and the
//! CLI says what to do. Alice's client re-wraps her past keys for the doctor;
//! then every record decrypts and verifies. The same for a guardian set later.
//! Re-wrapping refuses anyone but the patient or guardian, and readers with no
//! grant.

use ehr_client::read_path::api::{NewWrap, WrapUpload};
use ehr_ledger::proto::{action::Kind, *};
use ehr_testkit::stack::*;

#[test]
fn records_written_before_a_grant_are_readable_once_the_patient_rewraps() {
    let s = Stack::start();
    let ids = s.alice_heart_rates(8);
    let alice = s.cast.alice.address();

    let out = s.ehr(&[
        "tx",
        "--from",
        "alice",
        "grant",
        "--patient",
        "alice",
        "--clinician",
        "doctor2",
        "--category",
        "vitals",
    ]);
    assert!(out.status.success(), "{}", stdout(&out));

    // Allowed, but nothing decrypts yet, and the CLI says why.
    let out = s.ehr(&["fetch", "--as", "doctor2", "--patient", "alice"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.matches("NOT VERIFIED").count(), 8, "{text}");
    assert!(
        text.contains("ask them to re-wrap past records for you (ehr rewrap)"),
        "{text}"
    );

    // Only the patient (or guardian) may re-wrap, and only for a reader with a basis.
    let out = s.ehr(&[
        "rewrap",
        "--as",
        "doctor",
        "--patient",
        "alice",
        "--reader",
        "doctor2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("patient_or_guardian_only"),
        "{}",
        stderr(&out)
    );
    let out = s.ehr(&[
        "rewrap",
        "--as",
        "alice",
        "--patient",
        "alice",
        "--reader",
        "nurse",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("reader_not_allowed"),
        "{}",
        stderr(&out)
    );
    // Someone else's record, or a malformed wrap, is refused.
    let e = s
        .block_on(s.client(&s.cast.alice).upload_wraps(
            &alice,
            &WrapUpload {
                reader: s.doctor2.address().to_string(),
                wraps: vec![NewWrap {
                    key_id: "spo2-1:1".into(),
                    wrapped_key: "AAAA".into(),
                }],
            },
        ))
        .expect_err("malformed");
    assert_eq!(e.code(), Some("bad_wrap"));

    let out = s.ehr(&[
        "rewrap",
        "--as",
        "alice",
        "--patient",
        "alice",
        "--reader",
        "doctor2",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // One wrap per data key: Alice's readings share a key while her readers
    // stay the same.
    let keys = s.db.count(&format!(
        "SELECT count(DISTINCT key_id) FROM ingest.stored_records WHERE patient = '{alice}'"
    ));
    assert!((1..=8).contains(&keys), "{keys} keys for 8 readings");
    // …and the answer counts the readings they open, as a person does.
    assert!(
        stdout(&out).contains(&format!("re-wrapped {keys} data key(s)"))
            && stdout(&out).contains("opening 8 record(s)"),
        "{}",
        stdout(&out)
    );
    // Again: nothing left to do.
    let out = s.ehr(&[
        "rewrap",
        "--as",
        "alice",
        "--patient",
        "alice",
        "--reader",
        "doctor2",
    ]);
    assert!(
        stdout(&out).contains("re-wrapped 0 data key(s)"),
        "{}",
        stdout(&out)
    );

    let out = s.ehr(&["fetch", "--as", "doctor2", "--patient", "alice"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    for id in &ids {
        assert!(
            text.lines()
                .any(|l| l.contains(id) && l.trim_start().starts_with("verified")),
            "{id}\n{text}"
        );
    }

    // A guardian set after the fact: readable once alice re-wraps for them.
    let guardian = key("alice's guardian");
    s.import_key("guardian", &guardian);
    s.node.send(
        &s.cast.alice,
        Kind::SetGuardian(SetGuardian {
            patient: alice.0.to_vec(),
            guardian_public_key: pk(&guardian),
        }),
    );
    let out = s.ehr(&["fetch", "--as", "guardian", "--patient", "alice"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("allowed by GUARDIAN"),
        "{}",
        stdout(&out)
    );
    let out = s.ehr(&[
        "rewrap",
        "--as",
        "alice",
        "--patient",
        "alice",
        "--reader",
        &guardian.address().to_string(),
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = s.ehr(&["fetch", "--as", "guardian", "--patient", "alice"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        stdout(&out).matches("  verified  ").count(),
        8,
        "{}",
        stdout(&out)
    );

    // New readings after the grant are wrapped for doctor2 by ingest directly.
    let new = s.alice_heart_rates(2);
    let page = s
        .block_on(s.client(&s.doctor2).records(
            &alice,
            &ehr_client::read_path::client::RecordsQuery::category("vitals"),
        ))
        .unwrap();
    for id in &new {
        let r = page.records.iter().find(|r| &r.record_id == id).unwrap();
        assert!(
            r.wrapped_key.is_some(),
            "{id} not wrapped for doctor2 at ingest"
        );
    }
}
