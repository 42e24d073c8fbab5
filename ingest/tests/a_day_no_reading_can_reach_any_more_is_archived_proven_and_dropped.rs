//! Retention by the day (docs/ingest.md, "Partitions and retention"). Readings
//! are stored in one partition per day measured. A day no reading can reach
//! any more (readings are refused 30 days late) is archived by the owner with
//! `ehr-archive`: written out, each record proven against its batch's root,
//! then its partition detached and dropped. The archive proves against the
//! chain (`ehr verify-archive`), and an erasure of the patient's still shreds
//! the archived readings' key. A day still open, a day with a record that
//! does not prove, a day whose batches are not anchored, and a day with no
//! partition are refused with a sentence, and nothing of them is dropped.
//! The days are closed before they are archived (`ehr-db close-days`), as
//! they would be: a closed row's batch is found by its record number.
//!
//! The readings are made old by moving stored rows to a day 40 days back, as
//! the owner: what the archive proves (leaf, path, anchor) does not depend on
//! the day a row sits in.

use std::process::Output;
use std::time::Duration;

use ehr_ledger::crypto::sha256;
use ehr_testkit::stack::*;

fn archive(s: &Stack, out: &std::path::Path, args: &[&str]) -> Output {
    std::process::Command::new(binary("ehr-archive"))
        .arg("--out")
        .arg(out)
        .args(args)
        .env("DATABASE_URL", &s.db.url)
        .output()
        .expect("ehr-archive runs")
}

/// Moves alice's readings `seqs` to noon of `day` (UTC), its partition made.
fn move_to(db: &mut postgres::Client, seqs: &str, day: &str) {
    db.execute(
        "SELECT ingest.make_record_days($1::text::date, $1::text::date)",
        &[&day],
    )
    .unwrap();
    db.execute(
        &format!(
            "UPDATE ingest.records SET measured_at = ($1::text::date + time '12:00') AT TIME ZONE 'UTC'
                                                    + device_seq * interval '1 second'
             WHERE record_seq IN (SELECT record_seq FROM ingest.stored_records
                                  WHERE device_id = 'hr-1' AND device_seq IN ({seqs}))"
        ),
        &[&day],
    )
    .unwrap();
}

fn partition_exists(db: &mut postgres::Client, day: &str) -> bool {
    db.query_one(
        "SELECT to_regclass('ingest.records_' || replace($1, '-', '')) IS NOT NULL",
        &[&day],
    )
    .unwrap()
    .get(0)
}

#[test]
fn a_day_no_reading_can_reach_any_more_is_archived_proven_and_dropped() {
    let s = Stack::start();
    s.alice_heart_rates(8);
    let mut db = s.db.client().expect("the test database answers");
    let out = s.dir.path().join("archive");
    let (old, tampered, pending, open) = (
        s.db.utc_day(40),
        s.db.utc_day(39),
        s.db.utc_day(38),
        s.db.utc_day(10),
    );

    // Readings 1–4 on a day 40 back, under a key of their own (so that only
    // the archive holds what it opens).
    move_to(&mut db, "1, 2, 3, 4", &old);
    db.batch_execute(
        "INSERT INTO ingest.wrapped_keys (key_id, reader, reader_public_key, wrapped_key)
           SELECT 'k-archived', reader, reader_public_key, wrapped_key FROM ingest.wrapped_keys
           WHERE key_id = (SELECT key_id FROM ingest.stored_records WHERE device_id = 'hr-1' AND device_seq = 1);
         INSERT INTO ingest.data_keys (key_id) VALUES ('k-archived');
         UPDATE ingest.records SET key_no = (SELECT key_no FROM ingest.data_keys WHERE key_id = 'k-archived')
           WHERE record_seq IN
           (SELECT record_seq FROM ingest.stored_records WHERE device_id = 'hr-1' AND device_seq <= 4);",
    )
    .unwrap();
    // Reading 5 on the next day, its ciphertext altered.
    move_to(&mut db, "5", &tampered);
    db.execute(
        "UPDATE ingest.records SET ciphertext = set_byte(ciphertext, 19, get_byte(ciphertext, 19) # 255)
         WHERE record_seq IN (SELECT record_seq FROM ingest.stored_records WHERE device_id = 'hr-1' AND device_seq = 5)",
        &[],
    )
    .unwrap();
    // Reading 6 two days later, its batch (as if) not anchored yet: a copy of
    // its batch, pending, of another ingest service (this one leaves it be),
    // numbering records no batch numbers (no two batches number the same).
    move_to(&mut db, "6", &pending);
    let real_batch: i64 = db
        .query_one(
            "SELECT batch_id FROM ingest.stored_records WHERE device_id = 'hr-1' AND device_seq = 6",
            &[],
        )
        .unwrap()
        .get(0);
    db.batch_execute(
        "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record, status, writer)
           SELECT 1000000, merkle_root, record_count, 1000000000, 1000000000 + record_count - 1, 'pending', 'another-ingest'
           FROM ingest.batches WHERE batch_id = (SELECT batch_id FROM ingest.stored_records WHERE device_id = 'hr-1' AND device_seq = 6);
         UPDATE ingest.records SET batch_id = 1000000 WHERE record_seq IN
           (SELECT record_seq FROM ingest.stored_records WHERE device_id = 'hr-1' AND device_seq = 6);",
    )
    .unwrap();

    // Closed first, as days are long before they are archived: their rows
    // find their batches by their numbers, but reading 6's, whose batch
    // does not number it, and which keeps it.
    let closing = s.close_days();
    for d in [&old, &tampered, &pending] {
        assert!(closing.contains(&format!("closed {d} (")), "{closing}");
    }
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.records_{} WHERE batch_id = 1000000",
            pending.replace('-', "")
        )),
        1
    );
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.records_{} WHERE batch_id IS NULL AND leaf_index IS NULL",
            old.replace('-', "")
        )),
        4,
        "the old day's rows find their batches by their numbers"
    );

    // Refused, each with its reason; nothing dropped.
    let refused = |args: &[&str], says: &str| {
        let o = archive(&s, &out, args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    };
    refused(&["--day", &open], "may still arrive (up to 30 days late)");
    refused(
        &["--day", &s.db.utc_day(45)],
        "has no partition of readings",
    );
    refused(&["--day", &pending], "not anchored on chain yet");
    refused(
        &["--day", &tampered],
        "does not prove against its batch's root",
    );
    refused(&["--day", "2026-13-01"], "is not a day (YYYY-MM-DD)");
    // Readings whose key number ingest.data_keys no longer holds (a row
    // deleted by hand) cannot be written out: the day stays whole.
    let key_no: i32 = db
        .query_one(
            "DELETE FROM ingest.data_keys WHERE key_id = 'k-archived' RETURNING key_no",
            &[],
        )
        .unwrap()
        .get(0);
    refused(&["--day", &old], "0 of the 4 readings");
    assert!(partition_exists(&mut db, &old), "{old} dropped incomplete");
    db.execute(
        "INSERT INTO ingest.data_keys (key_no, key_id) OVERRIDING SYSTEM VALUE VALUES ($1, 'k-archived')",
        &[&key_no],
    )
    .unwrap();
    for d in [&tampered, &pending] {
        assert!(partition_exists(&mut db, d), "{d} dropped after a refusal");
        assert!(!out.join(format!("records-{d}.jsonl")).exists());
    }
    assert_eq!(
        s.db.count("SELECT count(*) FROM ingest.stored_records WHERE device_id = 'hr-1'"),
        8
    );
    // Reading 6 back in its anchored batch (an erasure of alice's would
    // wait for the pending one).
    db.execute(
        "UPDATE ingest.records SET batch_id = $1 WHERE record_seq IN
           (SELECT record_seq FROM ingest.stored_records WHERE device_id = 'hr-1' AND device_seq = 6)",
        &[&real_batch],
    )
    .unwrap();
    db.execute("DELETE FROM ingest.batches WHERE batch_id = 1000000", &[])
        .unwrap();

    // Archived: every day before the tampered one, i.e. the old day alone.
    let o = archive(&s, &out, &["--before", &tampered]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{old} archived: 4 record(s)")),
        "{}",
        stdout(&o)
    );
    let file = out.join(format!("records-{old}.jsonl"));
    let bytes = std::fs::read(&file).expect("the archive is written");
    assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 4);
    let kept: Vec<u8> = db
        .query_one(
            "SELECT archive_sha256 FROM ingest.record_days WHERE day = $1::text::date AND archived_records = 4",
            &[&old],
        )
        .expect("the day is recorded as archived")
        .get(0);
    assert_eq!(kept, sha256(&bytes).to_vec());
    assert!(!partition_exists(&mut db, &old));
    assert_eq!(
        s.db.count("SELECT count(*) FROM ingest.stored_records WHERE device_id = 'hr-1'"),
        4
    );
    // An archived day is not made again, and is not archived twice.
    let remade: i32 = db
        .query_one(
            "SELECT ingest.make_record_days($1::text::date, $1::text::date)",
            &[&old],
        )
        .unwrap()
        .get(0);
    assert_eq!(remade, 0);
    refused(&["--day", &old], "has no partition of readings");
    // The archive's hash and keys live in tables migration 015 made: it is
    // not reverted any more (020 to 016, after it, are).
    ehr_migrations::revert_last(&s.db.url).expect("migration 024 reverts");
    ehr_migrations::revert_last(&s.db.url).expect("migration 023 reverts");
    ehr_migrations::revert_last(&s.db.url).expect("migration 022 reverts");
    ehr_migrations::revert_last(&s.db.url).expect("migration 021 reverts");
    ehr_migrations::revert_last(&s.db.url).expect("migration 020 reverts");
    ehr_migrations::revert_last(&s.db.url).expect("migration 019 reverts");
    ehr_migrations::revert_last(&s.db.url).expect("migration 018 reverts");
    ehr_migrations::revert_last(&s.db.url).expect("migration 017 reverts");
    ehr_migrations::revert_last(&s.db.url).expect("migration 016 reverts");
    let reverted = ehr_migrations::revert_last(&s.db.url);
    assert!(
        reverted
            .as_ref()
            .is_err_and(|e| e.to_string().contains("cannot be reverted")),
        "{reverted:?}"
    );
    ehr_migrations::migrate(&s.db.url).expect("migrations 016 to 022 apply again");

    // Proven against the chain, and the file is the one kept.
    let file_arg = file.to_str().unwrap();
    let sha = hex::encode(&kept);
    let o = s.ehr(&["verify-archive", file_arg, "--sha256", &sha]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("4 record(s) proven against the chain, 0 not"),
        "{}",
        stdout(&o)
    );
    // An altered line (a path hash changed) and another file are caught.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let path = &mut lines[1]["record"]["anchor"]["path"][0];
    let flipped = path.as_str().unwrap().replacen(|c: char| c != 'f', "f", 1);
    *path = serde_json::Value::String(flipped);
    let altered = out.join("altered.jsonl");
    let altered_text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&altered, altered_text).unwrap();
    let o = s.ehr(&[
        "verify-archive",
        altered.to_str().unwrap(),
        "--sha256",
        &sha,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("NOT VERIFIED hr-1:2 (line 2)"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("3 record(s) proven against the chain, 1 not"));
    assert!(stdout(&o).contains("NOT the SHA-256 kept for it"));

    // Her erasure of her vitals shreds the archived readings' key too.
    s.erase_vitals("alice");
    let shredded = wait_until(Duration::from_secs(30), || {
        s.db.count("SELECT count(*) FROM ingest.wrapped_keys WHERE key_id = 'k-archived'") == 0
    });
    assert!(shredded, "the archived readings' key still has its wraps");
}
