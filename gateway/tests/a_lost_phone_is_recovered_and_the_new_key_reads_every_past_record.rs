//! Alice loses her phone. Two recovery contacts she named beforehand and the
//! front desk, who checks her in person, bind her new phone's key on four
//! validators; from that block the lost key is refused by the ledger and by
//! the gateway. The gateway re-wraps her escrowed data keys — readings and
//! her sealed details — for the new key only under that recovery, each
//! re-wrap a disclosure of purpose key_recovery in her trail; the lost key's
//! wraps are gone, and the new key reads every past record, verified, and
//! every reading stored after.

use std::time::Duration;

use ehr_client::read_path::client::RecordsQuery;
use ehr_ledger::proto::{AuditKind, Purpose};
use ehr_testkit::stack::*;
use serde_json::Value;

#[test]
fn a_lost_phone_is_recovered_and_the_new_key_reads_every_past_record() {
    let s = Stack::start_on_cometbft();
    s.import_key("admin", &s.cast.admin);
    // More readings than the ledger logs in one disclosure (1 000 ids), under
    // the one key ingest keeps open for her: the recovery's disclosure is
    // logged in parts.
    let readings = s.alice_heart_rates(1_200);
    let alice = s.cast.alice.address().to_string();
    let ok = |out: std::process::Output| {
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    ok(s.ehr(&[
        "tx",
        "--from",
        "alice",
        "demographics",
        "--patient",
        "alice",
        "--given",
        "Alice",
        "--family",
        "Zabłocka",
    ]));
    ok(s.ehr(&[
        "tx",
        "--from",
        "alice",
        "set-recovery-contacts",
        "--patient",
        "alice",
        "--contact",
        "bob",
        "--contact",
        "nurse",
        "--threshold",
        "2",
    ]));

    // The phone is gone. Her new phone shows its key and its proof.
    let phone = key("alice's phone after the loss");
    s.import_key("alice-phone", &phone);
    let shown: Value = serde_json::from_str(&ok(s.ehr(&[
        "--json",
        "keys",
        "prove-binding",
        "alice-phone",
        "--for",
        &alice,
    ])))
    .expect("json");
    let (new_key, proof) = (
        shown["public_key"].as_str().unwrap().to_string(),
        shown["proof"].as_str().unwrap().to_string(),
    );
    // Not yet bound: the gateway re-wraps nothing for it.
    let out = s.ehr(&["recover-keys", "--as", "alice-phone", "--patient", &alice]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no_recovery"), "{}", stderr(&out));

    let approve = |from: &str| {
        s.ehr(&[
            "tx",
            "--from",
            from,
            "approve-recovery",
            "--patient",
            &alice,
            "--key",
            &new_key,
            "--proof",
            &proof,
        ])
    };
    // A contact alone, or a stranger, binds nothing.
    ok(approve("bob"));
    let out = approve("doctor2");
    assert!(!out.status.success());
    assert!(stdout(&out).contains("WrongRole"), "{}", stdout(&out));
    ok(approve("admin"));
    let out = ok(approve("nurse"));
    assert!(out.contains("accepted"), "{out}");

    // The lost key: refused by the gateway (from the block after) and the ledger.
    let vitals = RecordsQuery::category("vitals");
    let refused = wait_until(Duration::from_secs(15), || {
        s.block_on(
            s.client(&s.cast.alice)
                .records(&s.cast.alice.address(), &vitals),
        )
        .is_err_and(|e| e.code() == Some("key_replaced"))
    });
    assert!(refused, "the lost key still reads");
    let out = s.ehr(&[
        "tx",
        "--from",
        "alice",
        "research-consent",
        "--patient",
        "alice",
        "off",
    ]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("KeyReplaced"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    // Her new key is hers, but the keys of the past were wrapped for the lost one.
    let page = s
        .block_on(s.client(&phone).records(&s.cast.alice.address(), &vitals))
        .expect("the new key reads as alice");
    assert_eq!(page.basis, "PATIENT");
    assert!(page.records.iter().all(|r| r.wrapped_key.is_none()));

    // The gateway re-wraps her escrowed keys for the recovered key.
    let out = ok(s.ehr(&["recover-keys", "--as", "alice-phone", "--patient", &alice]));
    assert!(
        out.contains("the keys of 1200 reading(s) and 1 document(s)"),
        "{out}"
    );
    // None made for the lost key is left.
    let old = hex::encode(s.cast.alice.public_key().to_bytes());
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.wrapped_keys WHERE reader = '{alice}' AND reader_public_key = '\\x{old}'"
        )),
        0
    );
    // Asking again re-wraps nothing new.
    let out = ok(s.ehr(&["recover-keys", "--as", "alice-phone", "--patient", &alice]));
    assert!(
        out.contains("the keys of 0 reading(s) and 0 document(s)"),
        "{out}"
    );

    // Every past record opens and verifies with the new key, her details too.
    let fetched = ok(s.ehr(&["fetch", "--as", "alice-phone", "--patient", &alice]));
    for id in &readings {
        assert!(
            fetched
                .lines()
                .any(|l| l.contains(id.as_str()) && l.trim_start().starts_with("verified")),
            "{id}:\n{fetched}"
        );
    }
    let details = ok(s.ehr(&[
        "documents",
        "--as",
        "alice-phone",
        "--patient",
        &alice,
        "--category",
        "demographics",
    ]));
    assert!(details.contains("Alice Zabłocka"), "{details}");

    // Readings stored from now on are wrapped for the new key by ingest.
    let later = s.alice_heart_rates(2);
    let fetched = ok(s.ehr(&["fetch", "--as", "alice-phone", "--patient", &alice]));
    for id in &later {
        assert!(
            fetched
                .lines()
                .any(|l| l.contains(id.as_str()) && l.trim_start().starts_with("verified")),
            "{id}:\n{fetched}"
        );
    }

    // Each re-wrap is in her trail, as her own disclosure for key recovery.
    s.disclosures_logged();
    let trail = s.audit_trail(&s.cast.alice);
    let rewrapped: Vec<String> = trail
        .items
        .iter()
        .filter(|e| {
            e.kind == AuditKind::Disclosure as i32 && e.purpose == Purpose::KeyRecovery as i32
        })
        .inspect(|e| assert_eq!(e.accessor, s.cast.alice.address().0.to_vec()))
        .inspect(|e| assert!(e.record_ids.len() <= 1_000, "{}", e.record_ids.len()))
        .flat_map(|e| e.record_ids.clone())
        .collect();
    // Her 1 200 readings (in parts of at most 1 000) and her document.
    assert_eq!(rewrapped.len(), 1_201);
    for id in &readings {
        assert!(rewrapped.contains(id), "{id} not in {rewrapped:?}");
    }

    // Nobody else has her escrowed keys re-wrapped for them.
    let e = s
        .block_on(
            s.client(&s.doctor2)
                .recover_keys(&s.cast.alice.address(), "readings"),
        )
        .expect_err("not hers");
    assert_eq!(e.code(), Some("no_recovery"), "{e}");
}
