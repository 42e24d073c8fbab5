//! Alice finds a wrong dose in the prescription her doctor wrote and asks
//! for it to be amended; the doctor accepts with a corrected prescription
//! that supersedes it — both kept, linked, the correction read first by
//! those she granted. She also asks the front desk to amend her details;
//! the hospital denies it on a ground the rule allows, explaining why, and
//! she attaches her disagreement, which everyone who reads her details sees
//! beside them. Every word is sealed: the chain holds who, when, which
//! record, the ground and the hashes.

use ehr_testkit::stack::*;
use serde_json::Value;

fn line_of<'a>(out: &'a str, id: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(id))
        .unwrap_or_else(|| panic!("{id} is not listed:\n{out}"))
}

#[test]
fn a_wrong_prescription_is_amended_and_a_denied_request_keeps_her_disagreement() {
    let s = Stack::start_on_cometbft();
    s.import_key("admin", &s.cast.admin);
    let ok = |args: &[&str]| {
        let out = s.ehr(args);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    ok(&[
        "tx",
        "--from",
        "alice",
        "grant",
        "--patient",
        "alice",
        "--clinician",
        "doctor",
        "--category",
        "medications",
        "--access",
        "write",
        "--expires-in",
        "1d",
    ]);
    ok(&[
        "tx",
        "--from",
        "doctor",
        "prescribe",
        "--patient",
        "alice",
        "--drug",
        "197361",
        "--dose",
        "50",
        "--unit",
        "mg",
        "--quantity",
        "30",
        "--refills",
        "0",
    ]);
    ok(&[
        "tx",
        "--from",
        "admin",
        "demographics",
        "--patient",
        "alice",
        "--given",
        "Alice",
        "--family",
        "Zablocka",
        "--birth-date",
        "1984-03-07",
    ]);
    let documents = |who: &str, category: &str| {
        ok(&[
            "--json",
            "documents",
            "--as",
            who,
            "--patient",
            "alice",
            "--category",
            category,
        ])
    };
    let listed: Value = serde_json::from_str(&documents("alice", "medications")).unwrap();
    let rx = listed["documents"][0]["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    let listed: Value = serde_json::from_str(&documents("alice", "demographics")).unwrap();
    let details = listed["documents"][0]["record_id"]
        .as_str()
        .unwrap()
        .to_string();

    // She asks; the reason is sealed, its hash anchored.
    let out = ok(&[
        "tx",
        "--from",
        "alice",
        "request-amendment",
        "--patient",
        "alice",
        "--record",
        &rx,
        "--reason",
        "The dose is 5 mg, not 50 mg, as we agreed.",
    ]);
    assert!(out.contains("amendment_id=1"), "{out}");
    let leaks = files_containing(&s.dir.path().join("node"), b"as we agreed");
    assert!(leaks.is_empty(), "her reason is in clear in {leaks:?}");
    // A nurse does not decide it (the author, or a doctor or admin of his
    // hospital, does): the gateway refuses to store her correction.
    let corrected = r#"{"kind":"prescription","drug_code":"197361","dose":"5","unit":"mg","quantity":30,"refills":0}"#;
    let out = s.ehr(&[
        "tx",
        "--from",
        "nurse",
        "accept-amendment",
        "--amendment",
        "1",
        "--content",
        corrected,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("access_denied"), "{}", stderr(&out));
    // Her doctor accepts with the corrected prescription.
    let out = ok(&[
        "tx",
        "--from",
        "doctor",
        "accept-amendment",
        "--amendment",
        "1",
        "--content",
        corrected,
    ]);
    assert!(out.contains("accepted"), "{out}");

    // The doctor (her grantee) reads both versions, the old one marked (a
    // reader proves the state a block behind the newest: the next block).
    let read = |category: &str| {
        ok(&[
            "documents",
            "--as",
            "doctor",
            "--patient",
            "alice",
            "--category",
            category,
        ])
    };
    let mut out = read("medications");
    let marked = wait_until(std::time::Duration::from_secs(10), || {
        out = read("medications");
        out.contains("SUPERSEDED")
    });
    assert!(marked, "the superseded prescription is not marked:\n{out}");
    let old = line_of(&out, &rx);
    assert!(old.starts_with("verified"), "{old}");
    assert!(old.contains("SUPERSEDED by correction-1"), "{old}");
    let new = line_of(&out, "correction-1");
    assert!(new.contains("5 mg"), "{new}");
    assert!(
        new.contains(&format!("corrects {rx} (amendment 1)")),
        "{new}"
    );
    assert!(
        out.contains("request to amend") && out.contains("as we agreed"),
        "her request is in the history:\n{out}"
    );

    // The details: denied, explained, disputed.
    ok(&[
        "tx",
        "--from",
        "alice",
        "request-amendment",
        "--patient",
        "alice",
        "--record",
        &details,
        "--reason",
        "My family name is Zabłocka, with an ł.",
    ]);
    let out = s.ehr(&[
        "tx",
        "--from",
        "nurse",
        "deny-amendment",
        "--amendment",
        "2",
        "--reason",
        "accurate-and-complete",
    ]);
    assert!(!out.status.success(), "a nurse decides nothing");
    ok(&[
        "tx",
        "--from",
        "admin",
        "deny-amendment",
        "--amendment",
        "2",
        "--reason",
        "accurate-and-complete",
        "--explanation",
        "Your passport, which we copied at enrolment, reads Zablocka.",
    ]);
    let out = s.ehr(&[
        "tx",
        "--from",
        "alice",
        "accept-amendment",
        "--amendment",
        "2",
        "--content",
        corrected,
    ]);
    assert!(!out.status.success(), "she does not decide her own request");
    ok(&[
        "tx",
        "--from",
        "alice",
        "file-disagreement",
        "--amendment",
        "2",
        "--statement",
        "The passport was misprinted; my birth certificate reads Zabłocka.",
    ]);
    // Her doctor reads her details with the whole exchange beside them.
    let mut out = read("demographics");
    let disputed = wait_until(std::time::Duration::from_secs(10), || {
        out = read("demographics");
        out.contains("statement of disagreement")
    });
    assert!(
        disputed,
        "her disagreement is not beside her details:\n{out}"
    );
    let d = line_of(&out, &details);
    assert!(!d.contains("SUPERSEDED"), "{d}");
    assert!(
        out.contains("why the amendment was denied")
            && out.contains("misprinted")
            && out.contains("statement of disagreement"),
        "{out}"
    );
    let out = ok(&["--json", "query", "amendments", "alice"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    let items = list["items"].as_array().expect("a list");
    assert_eq!(items.len(), 2, "{out}");
}
