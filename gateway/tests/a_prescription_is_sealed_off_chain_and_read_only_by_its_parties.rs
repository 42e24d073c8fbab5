//! A doctor prescribes through the CLI: the drug, dose and quantity are
//! encrypted on the doctor's machine, stored with the gateway, and only their
//! hash reaches the chain — nowhere in the node's state, blocks or events is
//! the drug's code. The pharmacist alice chose reads the prescription,
//! decrypted and checked against its anchor, and dispenses; a pharmacist she
//! did not choose can neither read nor dispense it; the read is in alice's
//! audit trail; a document altered in storage is caught.

use ehr_ledger::proto::{action::Kind, AuditKind, RegisterStaff, Role};
use ehr_testkit::stack::*;
use serde_json::Value;

/// A drug code that appears nowhere else in the test's data.
const DRUG: &str = "8675309";

#[test]
fn a_prescription_is_sealed_off_chain_and_read_only_by_its_parties() {
    let s = Stack::start();
    let chosen = key("pharmacist@general");
    let other = key("pharmacist2@general");
    for k in [&chosen, &other] {
        s.node.send(
            &s.cast.admin,
            Kind::RegisterStaff(RegisterStaff {
                public_key: pk(k),
                role: Role::Pharmacist as i32,
            }),
        );
    }
    s.import_key("pharmacist", &chosen);
    s.import_key("pharmacist2", &other);
    let alice = s.cast.alice.address().to_string();
    let tx = |from: &str, args: &[&str]| {
        let mut all = vec!["tx", "--from", from];
        all.extend_from_slice(args);
        s.ehr(&all)
    };
    let ok = |from: &str, args: &[&str]| {
        let out = tx(from, args);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    // Alice lets her doctor prescribe and chooses her pharmacist.
    ok(
        "alice",
        &[
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
        ],
    );
    ok(
        "alice",
        &[
            "grant",
            "--patient",
            "alice",
            "--clinician",
            "pharmacist",
            "--category",
            "medications",
            "--expires-in",
            "1d",
        ],
    );

    let rx = ok(
        "doctor",
        &[
            "prescribe",
            "--patient",
            "alice",
            "--drug",
            DRUG,
            "--dose",
            "5",
            "--unit",
            "mg",
            "--quantity",
            "30",
            "--refills",
            "1",
        ],
    );
    assert!(rx.contains("prescription_id=1"), "{rx}");

    // The chain holds the parties, the fills and the hash: not the drug.
    let node_dir = s.dir.path().join("node");
    let leaks = files_containing(&node_dir, DRUG.as_bytes());
    assert!(leaks.is_empty(), "the drug code is in clear in {leaks:?}");
    // The same scan finds what the chain does keep: the scan sees the state.
    let record_id =
        s.db.client()
            .expect("the test database answers")
            .query_one("SELECT record_id FROM gateway.documents", &[])
            .unwrap()
            .get::<_, String>(0);
    assert!(!files_containing(&node_dir, record_id.as_bytes()).is_empty());
    let shown = s.ehr(&["query", "prescriptions", &alice]);
    let shown = stdout(&shown);
    assert!(
        shown.contains("content_record_id") && !shown.contains(DRUG),
        "{shown}"
    );
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM gateway.documents WHERE position('{DRUG}'::bytea IN ciphertext) > 0"
        )),
        0
    );
    assert_eq!(s.db.count("SELECT count(*) FROM gateway.documents"), 1);

    // The pharmacist alice chose reads it, verified, and dispenses.
    let out = s.ehr(&[
        "--json",
        "documents",
        "--as",
        "pharmacist",
        "--patient",
        &alice,
    ]);
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    assert_eq!(json["verified"], true, "{json}");
    let doc = &json["documents"][0]["document"]["content"];
    assert_eq!(doc["drug_code"], DRUG);
    assert_eq!(doc["quantity"], 30);
    ok("pharmacist", &["dispense", "1"]);

    // One she did not choose: refused by the gateway and by the chain.
    let out = s.ehr(&["documents", "--as", "pharmacist2", "--patient", &alice]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("access_denied"), "{}", stderr(&out));
    let out = tx("pharmacist2", &["dispense", "1"]);
    assert!(stdout(&out).contains("(NoAccess)"), "{}", stdout(&out));

    // Alice reads her own prescription too, and sees the pharmacist's read.
    let out = s.ehr(&["documents", "--as", "alice", "--patient", &alice]);
    assert!(
        stdout(&out).contains(&format!("RxNorm {DRUG}, 5 mg × 30")),
        "{}",
        stdout(&out)
    );
    s.disclosures_logged();
    let trail = s.audit_trail(&s.cast.alice);
    assert!(
        trail
            .items
            .iter()
            .any(|e| e.kind == AuditKind::Disclosure as i32
                && e.accessor == chosen.address().0.to_vec()
                && e.record_ids.iter().any(|id| id.starts_with("rx-"))),
        "{trail:?}"
    );

    // An insider alters the stored document: the reader catches it.
    s.db.client()
        .expect("the test database answers")
        .execute(
            "UPDATE gateway.documents SET ciphertext = ciphertext || '\\x00'::bytea,
                 ciphertext_sha256 = sha256(ciphertext || '\\x00'::bytea)",
            &[],
        )
        .unwrap();
    let out = s.ehr(&["documents", "--as", "pharmacist", "--patient", &alice]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("NOT VERIFIED"), "{text}");
}

#[test]
fn the_gateway_refuses_documents_it_must_not_store() {
    let s = Stack::start();
    let alice = s.cast.alice.address();
    let client = s.client(&s.cast.doctor);
    let sealed = |wrap_for_patient: bool| {
        let mut readers = vec![ehr_client::read_path::readers::ReaderKey {
            address: s.cast.doctor.address(),
            key: s.cast.doctor.public_key(),
        }];
        if wrap_for_patient {
            readers.push(ehr_client::read_path::readers::ReaderKey {
                address: alice,
                key: s.cast.alice.public_key(),
            });
        }
        ehr_client::read_path::documents::seal(
            ehr_client::read_path::documents::Content::LabOrder {
                test_code: "2345-7".into(),
                lab_org: "general".into(),
            },
            &alice,
            &readers,
            0,
        )
    };
    let refused = |upload: &ehr_client::read_path::api::DocumentUpload| {
        s.block_on(client.put_document(&alice, upload))
            .expect_err("refused")
            .code()
            .map(str::to_string)
    };
    // The doctor holds only a vitals read grant: no writing labs.
    assert_eq!(
        refused(&sealed(true).upload).as_deref(),
        Some("access_denied")
    );
    let g = ehr_ledger::proto::GrantAccess {
        patient: alice.0.to_vec(),
        grantee: Some(ehr_ledger::proto::Grantee {
            kind: Some(ehr_ledger::proto::grantee::Kind::Clinician(
                s.cast.doctor.address().0.to_vec(),
            )),
        }),
        categories: vec![ehr_ledger::proto::Category::Labs as i32],
        access: ehr_ledger::proto::AccessLevel::Write as i32,
        expires_at: 4_102_444_800,
    };
    s.node.send(&s.cast.alice, Kind::GrantAccess(g));
    // No wrap for the patient, an oversize or empty ciphertext, a bad id,
    // a vitals "document", a wrap of the wrong size: each its own refusal.
    assert_eq!(refused(&sealed(false).upload).as_deref(), Some("bad_wrap"));
    let mut big = sealed(true).upload;
    big.ciphertext = base64_of(&vec![0u8; 64 * 1024 + 1]);
    assert_eq!(refused(&big).as_deref(), Some("bad_document"));
    let mut empty = sealed(true).upload;
    empty.ciphertext = String::new();
    assert_eq!(refused(&empty).as_deref(), Some("bad_document"));
    let mut bad_id = sealed(true).upload;
    bad_id.record_id = "../../etc/passwd".into();
    assert_eq!(refused(&bad_id).as_deref(), Some("bad_document"));
    let mut vitals = sealed(true).upload;
    vitals.category = "vitals".into();
    assert_eq!(refused(&vitals).as_deref(), Some("bad_document"));
    let mut short = sealed(true).upload;
    short.wraps[0].wrapped_key = base64_of(&[1, 2, 3]);
    assert_eq!(refused(&short).as_deref(), Some("bad_wrap"));
    // Stored once; the same id again is a conflict.
    let good = sealed(true).upload;
    s.block_on(client.put_document(&alice, &good))
        .expect("stored");
    assert_eq!(refused(&good).as_deref(), Some("document_exists"));
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
