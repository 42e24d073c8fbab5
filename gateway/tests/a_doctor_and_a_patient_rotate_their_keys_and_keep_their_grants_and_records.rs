//! The doctor renews his laptop's key and alice her phone's, each by a
//! transaction the old key signs, on four validators. His grant holds for the
//! new key; the old one is refused by the gateway; alice's client re-wraps her
//! past keys for him (his old wraps open nothing for the new key, so none is
//! served) and, when she rotates, for herself — her old key still opens them.
//! Readings stored after a rotation are wrapped for the new key by ingest —
//! a guardian's too, though the patient named his first key.

use std::time::Duration;

use ehr_client::read_path::client::RecordsQuery;
use ehr_testkit::stack::*;

fn verified(fetched: &str, ids: &[String]) {
    for id in ids {
        assert!(
            fetched
                .lines()
                .any(|l| l.contains(id.as_str()) && l.trim_start().starts_with("verified")),
            "{id} is not verified:\n{fetched}"
        );
    }
}

#[test]
fn a_doctor_and_a_patient_rotate_their_keys_and_keep_their_grants_and_records() {
    let s = Stack::start_on_cometbft();
    let before = s.alice_heart_rates(3);
    let alice = s.cast.alice.address().to_string();
    let doctor = s.cast.doctor.address().to_string();
    let ok = |out: std::process::Output| {
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    let vitals = RecordsQuery::category("vitals");

    // The doctor's new laptop.
    let laptop = key("the doctor's new laptop");
    s.import_key("doctor-laptop", &laptop);
    ok(s.ehr(&[
        "tx",
        "--from",
        "doctor",
        "rotate-key",
        "--new",
        "doctor-laptop",
    ]));
    let refused = wait_until(Duration::from_secs(15), || {
        s.block_on(
            s.client(&s.cast.doctor)
                .records(&s.cast.alice.address(), &vitals),
        )
        .is_err_and(|e| e.code() == Some("key_replaced"))
    });
    assert!(refused, "the replaced key still reads");
    // His grant holds for the new key; the old key's wraps are not served.
    let page = s
        .block_on(s.client(&laptop).records(&s.cast.alice.address(), &vitals))
        .expect("the grant follows the doctor");
    assert_eq!(page.basis, "GRANT");
    assert!(page.records.iter().all(|r| r.wrapped_key.is_none()));
    // Alice shares her past readings with him again: with his new key.
    let out = ok(s.ehr(&[
        "rewrap",
        "--as",
        "alice",
        "--patient",
        "alice",
        "--reader",
        &doctor,
        "--category",
        "vitals",
    ]));
    assert!(out.contains("opening 3 record(s)"), "{out}");
    verified(
        &ok(s.ehr(&["fetch", "--as", "doctor-laptop", "--patient", &alice])),
        &before,
    );
    // A reading stored now is wrapped for his new key by ingest.
    let after_his = s.alice_heart_rates(2);
    verified(
        &ok(s.ehr(&["fetch", "--as", "doctor-laptop", "--patient", &alice])),
        &after_his,
    );

    // Alice's new phone: her client re-wraps her past keys for it.
    let phone = key("alice's new phone");
    s.import_key("alice-phone", &phone);
    let out = ok(s.ehr(&[
        "tx",
        "--from",
        "alice",
        "rotate-key",
        "--new",
        "alice-phone",
    ]));
    assert!(
        out.contains("for your new key, opening 5 record(s)"),
        "{out}"
    );
    let mine: Vec<String> = before.iter().chain(&after_his).cloned().collect();
    verified(
        &ok(s.ehr(&["fetch", "--as", "alice-phone", "--patient", &alice])),
        &mine,
    );
    let e = s
        .block_on(
            s.client(&s.cast.alice)
                .records(&s.cast.alice.address(), &vitals),
        )
        .expect_err("her old key");
    assert_eq!(e.code(), Some("key_replaced"), "{e}");
    // Her grant to the doctor stands, and the new readings reach them both.
    let after_hers = s.alice_heart_rates(2);
    verified(
        &ok(s.ehr(&["fetch", "--as", "alice-phone", "--patient", &alice])),
        &after_hers,
    );
    verified(
        &ok(s.ehr(&["fetch", "--as", "doctor-laptop", "--patient", &alice])),
        &after_hers,
    );
    // The old key cannot rotate again, nor sign anything.
    let out = s.ehr(&["tx", "--from", "alice", "rotate-key", "--new", "doctor"]);
    assert!(!out.status.success());

    // Bob, her guardian, replaces his key: what is stored for her from then
    // on is wrapped for the key he holds now, not the one she named.
    ok(s.ehr(&[
        "tx",
        "--from",
        "alice-phone",
        "set-guardian",
        "--patient",
        &alice,
        "--guardian",
        "bob",
    ]));
    let bobs_phone = key("bob's new phone");
    s.import_key("bob-phone", &bobs_phone);
    ok(s.ehr(&["tx", "--from", "bob", "rotate-key", "--new", "bob-phone"]));
    let after_bobs = s.alice_heart_rates(2);
    // (What was stored before he was her guardian is not his to open: the
    // fetch says so, and fails for those.)
    let fetched = s.ehr(&["fetch", "--as", "bob-phone", "--patient", &alice]);
    verified(&stdout(&fetched), &after_bobs);
}
