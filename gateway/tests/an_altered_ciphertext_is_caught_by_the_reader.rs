//! Someone with write access to PostgreSQL alters stored records. The reader
//! catches each kind of tampering with a message that says what is wrong, and
//! the CLI exits 1. The other records — of the same batch too, since their
//! paths come from the batch's tree, not from the altered rows — still
//! verify. An altered tree makes its records unverifiable, never verifies
//! one that is not the anchored record.

use ehr_ledger::crypto::sha256;
use ehr_testkit::stack::*;

#[test]
fn an_altered_ciphertext_is_caught_by_the_reader() {
    let s = Stack::start();
    s.alice_heart_rates(6);
    let mut db = s.db.client().expect("the test database answers");

    // 1. A byte of the ciphertext flipped: it no longer hashes to its leaf.
    db.execute(
        "UPDATE ingest.records SET ciphertext = overlay(ciphertext placing '\\xff'::bytea from 20 for 1)
         WHERE record_seq IN (SELECT record_seq FROM ingest.stored_records WHERE record_id = 'hr-1:1')",
        &[],
    )
    .unwrap();
    // 2. Ciphertext and its hash both replaced: the hash no longer leads to
    //    the root anchored on chain, and AES-GCM refuses the bytes.
    let row = db
        .query_one(
            "SELECT ciphertext FROM ingest.stored_records WHERE record_id = 'hr-1:2'",
            &[],
        )
        .unwrap();
    let mut forged: Vec<u8> = row.get(0);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    db.execute(
        "UPDATE ingest.records SET ciphertext = $1, ciphertext_sha256 = $2
         WHERE record_seq IN (SELECT record_seq FROM ingest.stored_records WHERE record_id = 'hr-1:2')",
        &[&forged, &sha256(&forged).as_slice()],
    )
    .unwrap();
    // 3. Record 4's ciphertext swapped in for record 3 (a valid ciphertext of
    //    another record, with its hash): the record id bound in it refuses it.
    db.execute(
        "UPDATE ingest.records r SET ciphertext = o.ciphertext, ciphertext_sha256 = o.ciphertext_sha256
         FROM ingest.stored_records o
         WHERE r.record_seq IN (SELECT record_seq FROM ingest.stored_records WHERE record_id = 'hr-1:3')
           AND o.record_id = 'hr-1:4'",
        &[],
    )
    .unwrap();

    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = |id: &str| {
        text.lines()
            .find(|l| l.contains(&format!(" {id} ")) || l.contains(&format!(" {id}:")))
            .unwrap_or_else(|| panic!("{id} missing\n{text}"))
            .to_string()
    };
    assert!(line("hr-1:1").contains("NOT VERIFIED"), "{text}");
    assert!(
        line("hr-1:1").contains("SHA-256 is not the record's"),
        "{text}"
    );
    assert!(line("hr-1:2").contains("NOT VERIFIED"), "{text}");
    assert!(line("hr-1:2").contains("was altered"), "{text}");
    assert!(line("hr-1:3").contains("NOT VERIFIED"), "{text}");
    assert!(line("hr-1:3").contains("does not decrypt"), "{text}");
    for id in ["hr-1:4", "hr-1:5", "hr-1:6"] {
        assert!(line(id).trim_start().starts_with("verified"), "{text}");
    }
    assert!(
        text.contains("3 record(s) did not verify: do not rely on them"),
        "{text}"
    );

    // An untouched record of an altered batch that keeps no tree (as batches
    // stored before trees were) gets a path rebuilt from the batch's leaves —
    // which no longer reach the root.
    let neighbours: Vec<String> = db
        .query(
            "SELECT record_id FROM ingest.stored_records WHERE record_id IN ('hr-1:4', 'hr-1:5', 'hr-1:6')
               AND batch_id IN (SELECT batch_id FROM ingest.stored_records WHERE record_id IN ('hr-1:2', 'hr-1:3'))",
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let rebuilt = neighbours.len() as i64;
    if neighbours.is_empty() {
        eprintln!(
            "skipped the rebuilt-path check: ingest put the altered records in batches of their own"
        );
    } else {
        db.execute(
            "DELETE FROM ingest.batch_trees
             WHERE batch_id IN (SELECT batch_id FROM ingest.stored_records WHERE record_id = ANY($1))",
            &[&neighbours],
        )
        .unwrap();
        let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
        let text = stdout(&out);
        for id in &neighbours {
            assert!(
                text.lines().any(|l| l.contains(&format!(" {id} "))
                    && l.contains("does not lead to the root anchored on chain")),
                "{id}\n{text}"
            );
        }
    }

    // Readings of a later batch are untouched and verify.
    let later = s.alice_heart_rates(3);
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
    let text = stdout(&out);
    for id in &later {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!(" {id} ")) && l.trim_start().starts_with("verified")),
            "{id}\n{text}"
        );
    }

    // A FHIR export holds only what verified.
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice", "--fhir"]);
    let bundle: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The three untouched of the first six (less those given rebuilt paths) and the three later.
    let observations = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Observation")
        .count();
    assert_eq!(observations as i64, 6 - rebuilt);

    // Even a reader who skips decryption learns that hr-1:2's new hash is not
    // the one anchored on chain.
    let page = s
        .block_on(s.client(&s.cast.doctor).records(
            &s.cast.alice.address(),
            &ehr_client::read_path::client::RecordsQuery::category("vitals"),
        ))
        .unwrap();
    let forged = page
        .records
        .iter()
        .find(|r| r.record_id == "hr-1:2")
        .unwrap();
    let (mut chain, _) = s
        .block_on(ehr_client::read_path::open::ChainVerifier::connect(
            s.node.rpc(),
            &ehr_client::read_path::open::TrustRoot::DevSequencer,
        ))
        .unwrap();
    let e = s
        .block_on(chain.verify_anchor(forged))
        .expect_err("not the anchored record");
    assert!(
        e.to_string()
            .contains("does not lead to the root anchored on chain"),
        "{e}"
    );
    let genuine = page
        .records
        .iter()
        .find(|r| r.record_id == later[0])
        .unwrap();
    assert!(s.block_on(chain.verify_anchor(genuine)).is_ok());

    // The later batch's tree overwritten: none of its records verifies
    // (each path derived from it misses the anchored root), and the CLI
    // says which and why.
    let zeroed = db
        .execute(
            "UPDATE ingest.batch_trees SET tree = decode(repeat('00', length(tree)), 'hex')
             WHERE batch_id IN (SELECT batch_id FROM ingest.stored_records WHERE record_id = ANY($1))",
            &[&later],
        )
        .unwrap();
    assert!(zeroed >= 1, "the later readings' batch keeps a tree");
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for id in &later {
        assert!(
            text.lines().any(|l| l.contains(&format!(" {id} "))
                && l.contains("NOT VERIFIED")
                && l.contains("does not lead to the root anchored on chain")),
            "{id}\n{text}"
        );
    }
}
