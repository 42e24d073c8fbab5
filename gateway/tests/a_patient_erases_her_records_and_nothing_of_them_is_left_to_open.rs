//! Alice erases her vitals, on four validators. While her hospital holds
//! them for litigation, erasure is refused with whose hold and why; once it
//! is released, ingest follows the erasure on chain and shreds every
//! reading's ciphertext, every wrap of their keys and her analytics rows;
//! readers — her doctor, herself — are shown each reading "erased on <date>
//! under <basis>", proven on chain, where the anchors stay. A legal order
//! then erases everything, her sealed details too — carried out by a
//! gateway that was down when it was decided, and whose node, once it is
//! back, hides the erasure's event: the gateway follows erasures by their
//! numbers, on proof. A reading stored after an erasure is not erased by it.

use std::time::Duration;

use ehr_testkit::stack::*;
use serde_json::Value;

/// Every `records_erased` event left out of the blocks' results.
fn hides_erasures(request: &Value, answer: &mut Value) {
    if request.get("method").and_then(Value::as_str) != Some("block_results") {
        return;
    }
    let results = answer
        .pointer_mut("/result/txs_results")
        .and_then(Value::as_array_mut);
    for tx in results.into_iter().flatten() {
        if let Some(events) = tx.get_mut("events").and_then(Value::as_array_mut) {
            events.retain(|e| e.get("type").and_then(Value::as_str) != Some("records_erased"));
        }
    }
}

#[test]
fn a_patient_erases_her_records_and_nothing_of_them_is_left_to_open() {
    let mut s = Stack::start_on_cometbft();
    s.import_key("admin", &s.cast.admin);
    let readings = s.alice_heart_rates(4);
    let alice = s.cast.alice.address().to_string();
    let ok = |s: &Stack, args: &[&str]| {
        let out = s.ehr(args);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    ok(
        &s,
        &[
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
        ],
    );
    let analytics = "SELECT count(*) FROM analytics.readings";
    assert!(s.db.count(analytics) >= 4, "she consented to research");

    // Her hospital must keep her vitals for now.
    ok(
        &s,
        &[
            "tx",
            "--from",
            "admin",
            "legal-hold",
            "--patient",
            "alice",
            "--category",
            "vitals",
            "--for",
            "30d",
            "--reason",
            "litigation",
            "--reference",
            "case 2026-CV-0114",
        ],
    );
    let out = s.ehr(&[
        "tx",
        "--from",
        "alice",
        "erase",
        "--patient",
        "alice",
        "--category",
        "vitals",
    ]);
    assert!(!out.status.success());
    let said = stdout(&out);
    assert!(
        said.contains("LegalHold")
            && said.contains("general must keep")
            && said.contains("case 2026-CV-0114"),
        "{said}"
    );
    ok(
        &s,
        &[
            "tx",
            "--from",
            "admin",
            "legal-hold",
            "--patient",
            "alice",
            "--for",
            "0",
        ],
    );
    s.erase_vitals("alice");

    // Ingest follows the erasure: no ciphertext, no wrap, no analytics row.
    let shredded = wait_until(Duration::from_secs(30), || {
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.stored_records WHERE patient = '{alice}' AND ciphertext IS NOT NULL"
        )) == 0
    });
    assert!(shredded, "readings still hold their ciphertext");
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.wrapped_keys w JOIN ingest.stored_records r ON r.key_id = w.key_id
             WHERE r.patient = '{alice}'"
        )),
        0,
        "a wrap of an erased reading's key is left"
    );
    assert_eq!(s.db.count(analytics), 0, "analytics rows are left");

    // Every reader is told, and proves, that each reading was erased.
    for who in ["doctor", "alice"] {
        let out = ok(&s, &["fetch", "--as", who, "--patient", &alice]);
        for id in &readings {
            let line = out
                .lines()
                .find(|l| l.contains(id.as_str()))
                .unwrap_or_else(|| panic!("{id} is not listed:\n{out}"));
            assert!(
                line.trim_start().starts_with("ERASED")
                    && line.contains("erased on")
                    && line.contains("the patient's request (GDPR art. 17)"),
                "{line}"
            );
        }
    }
    // Her details were not erased with her vitals.
    let out = ok(
        &s,
        &[
            "documents",
            "--as",
            "alice",
            "--patient",
            "alice",
            "--category",
            "demographics",
        ],
    );
    assert!(out.contains("Zabłocka"), "{out}");

    // A reading stored after the erasure is hers to read.
    let later = s.alice_heart_rates(1);
    let out = ok(&s, &["fetch", "--as", "alice", "--patient", &alice]);
    let line = out.lines().find(|l| l.contains(later[0].as_str())).unwrap();
    assert!(line.trim_start().starts_with("verified"), "{line}");

    // A legal order erases everything, her sealed details too — decided
    // while her hospital's gateway is down.
    s.gateway.kill_9();
    let out = s.ehr(&[
        "tx",
        "--from",
        "admin",
        "erase",
        "--patient",
        "alice",
        "--everything",
        "--basis",
        "legal-order",
        "--reference",
        "order 2026/114 of the district court",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // Back, through a node that hides the erasure's event.
    let liar = LyingNode::start(&s.node.url, honest, hides_erasures);
    let dir = s.dir.path().join("back");
    std::fs::create_dir_all(&dir).unwrap();
    s.gateway = GatewayProcess::start_via(&dir, &s.db, &s.node, &liar.url, &s.gateway_key, &[]);
    let documents_shredded = wait_until(Duration::from_secs(30), || {
        s.db.count(&format!(
            "SELECT count(*) FROM gateway.documents WHERE patient = '{alice}' AND ciphertext IS NOT NULL"
        )) == 0
    });
    assert!(documents_shredded, "documents still hold their ciphertext");
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM gateway.document_keys k JOIN gateway.documents d USING (record_id)
             WHERE d.patient = '{alice}'"
        )),
        0
    );
    let out = ok(
        &s,
        &[
            "documents",
            "--as",
            "alice",
            "--patient",
            "alice",
            "--category",
            "demographics",
        ],
    );
    assert!(
        out.contains("ERASED")
            && out.contains("a legal order (order 2026/114 of the district court)"),
        "{out}"
    );
    assert!(!out.contains("Zabłocka"), "{out}");
}
