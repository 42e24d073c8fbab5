//! The front desk of the hospital that enrolled alice seals who she is —
//! name, birth date, its record number — encrypted on its machine; only the
//! hash reaches the chain. Her doctor (granted her vitals) sees her name where
//! he saw her address, and her details as a FHIR Patient that passes HAPI's
//! validator; a nurse she never granted is refused. When alice corrects her
//! name herself, the newest version is the one shown; a doctor she grants
//! later sees it once she shares her details again (`ehr rewrap`). Bad details are
//! refused with a sentence before anything is sealed.

use ehr_testkit::stack::*;
use serde_json::Value;

#[test]
fn a_front_desk_seals_who_a_patient_is_and_her_readers_see_her_name() {
    let s = Stack::start();
    s.import_key("admin", &s.cast.admin);
    s.alice_heart_rates(2);
    let alice = s.cast.alice.address().to_string();
    let seal = |from: &str, extra: &[&str]| {
        let mut args = vec!["tx", "--from", from, "demographics", "--patient", "alice"];
        args.extend_from_slice(extra);
        s.ehr(&args)
    };

    let out = seal(
        "admin",
        &[
            "--given",
            "Alice",
            "--family",
            "Zabłocka",
            "--birth-date",
            "1984-03-07",
            "--gender",
            "female",
            "--mrn",
            "general=G-00042",
        ],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // The chain holds the hash, not who she is.
    let node_dir = s.dir.path().join("node");
    for secret in ["Zabłocka", "G-00042", "1984-03-07"] {
        let leaks = files_containing(&node_dir, secret.as_bytes());
        assert!(leaks.is_empty(), "{secret} is in clear in {leaks:?}");
    }

    // The front desk reads what it sealed (for operations, as its basis allows).
    let out = s.ehr(&[
        "documents",
        "--as",
        "admin",
        "--patient",
        "alice",
        "--category",
        "demographics",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Alice Zabłocka, born 1984-03-07"),
        "{}",
        stdout(&out)
    );

    // Her doctor sees her name where he saw her address.
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("of Alice Zabłocka ({alice})")),
        "{}",
        stdout(&out)
    );
    // And her details as a FHIR Patient.
    let out = s.ehr(&[
        "documents",
        "--as",
        "doctor",
        "--patient",
        "alice",
        "--category",
        "demographics",
        "--fhir",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let bundle: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let patient = &bundle["entry"][0]["resource"];
    assert_eq!(patient["resourceType"], "Patient");
    assert_eq!(patient["id"], alice);
    assert_eq!(patient["name"][0]["family"], "Zabłocka");
    assert_eq!(patient["birthDate"], "1984-03-07");
    assert_eq!(patient["identifier"][1]["value"], "G-00042");
    let dir = tempfile::tempdir().unwrap();
    let judged = ehr_testkit::fhir::validate(dir.path(), &[("Patient".into(), bundle.clone())])
        .expect("the validator runs");
    assert_eq!(judged.errors(), Vec::<String>::new());

    // A nurse alice never granted reads nothing of her, not even her name.
    let out = s.ehr(&[
        "documents",
        "--as",
        "nurse",
        "--patient",
        "alice",
        "--category",
        "demographics",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no current read grant"),
        "{}",
        stderr(&out)
    );

    // Alice corrects her name herself: the newest version is current.
    let out = seal("alice", &["--given", "Alicja", "--family", "Zabłocka"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
    assert!(
        stdout(&out).contains("of Alicja Zabłocka ("),
        "{}",
        stdout(&out)
    );

    // A doctor she grants later has no key to who she is until she shares
    // her details again; then he sees her name.
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
        "--expires-in",
        "1d",
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    let out = s.ehr(&["fetch", "--as", "doctor2", "--patient", "alice"]);
    assert!(
        stdout(&out).contains(&format!("of {alice} (")),
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
        "doctor2",
        "--category",
        "demographics",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let out = s.ehr(&["fetch", "--as", "doctor2", "--patient", "alice"]);
    assert!(
        stdout(&out).contains("of Alicja Zabłocka ("),
        "{}",
        stdout(&out)
    );

    // Bad details are refused before anything is sealed, with a sentence.
    for (bad, said) in [
        (
            vec!["--family", "X", "--birth-date", "07/03/1984"],
            "YYYY-MM-DD",
        ),
        (
            vec!["--family", "X", "--gender", "f"],
            "male, female, other or unknown",
        ),
        (
            vec!["--family", "X", "--mrn", "G-1"],
            "<organisation>=<number>",
        ),
    ] {
        let out = seal("admin", &bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(said), "{bad:?}: {}", stderr(&out));
    }
}
