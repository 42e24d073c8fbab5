//! Migration 015 on a database of the layout before it (one `ingest.records`
//! table, readings in it): the stored readings stay where they are, as the
//! partition `ingest.records_history`; each device's highest sequence is
//! taken from them, so a sequence reused at another time is still found; a
//! new reading goes to its day's partition. Reverted, every reading is back
//! in one table; migrated again, the same. Migration 017 then names each
//! reading's patient and device by one number and derives its record id: a
//! row whose record id is not derivable stops it, with the day named.
//! Migration 018 names each reading's data key by a number and keeps 16
//! bytes of its content hash: a reading sent again is still found.
//! Migration 019 numbers the analysts' pseudonyms and codes behind a view
//! of the same columns.

use std::sync::Arc;

use ehr_ingest::reading::content_hash;
use ehr_ingest::store::{NewKey, NewRecord, Source, Store};
use ehr_ledger::crypto::sha256;
use ehr_migrations::{migrate, revert_last};
use ehr_testkit::stack::database;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// What the device signed for reading `seq` measured at `at_ms`.
fn signed(seq: i64, at_ms: i64) -> Vec<u8> {
    format!("reading {seq} at {at_ms}").into_bytes()
}

fn record(seq: i64, at_ms: i64) -> NewRecord {
    let ciphertext = format!("ciphertext of reading {seq} at {at_ms}").into_bytes();
    NewRecord {
        source: Source {
            topic: "ehr.readings".into(),
            partition: 0,
            offset: seq,
            payload_sha256: sha256(&ciphertext),
            payload_size: 100,
        },
        device_id: "d-1".into(),
        device_seq: seq,
        content_hash: content_hash(&signed(seq, at_ms)),
        patient: "ehr1patient".into(),
        category: 1,
        loinc: "8867-4".into(),
        measured_at_ms: at_ms,
        ciphertext_sha256: sha256(&ciphertext),
        ciphertext,
        key: Arc::new(NewKey {
            key_id: "k-1".into(),
            wraps: vec![],
        }),
        analytics: None,
    }
}

/// Where each of d-1's readings sits, by sequence.
fn partitions(db: &mut postgres::Client) -> Vec<(i64, String)> {
    db.query(
        "SELECT r.device_seq, r.tableoid::regclass::text FROM ingest.records r
         JOIN ingest.patient_devices d ON d.pair_no = r.pair_no WHERE d.device_id = 'd-1' ORDER BY 1",
        &[],
    )
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[test]
fn an_existing_database_moves_to_daily_partitions_and_back_keeping_every_reading() {
    let db = database();
    let mut owner = db.client().unwrap();
    // The layout before: migrations 022 to 015 reverted (their down.sql, on
    // an empty database), then three readings of five days ago stored the
    // old way, each with the whole SHA-256 of its content.
    revert_last(&db.url).expect("migration 024 reverts");
    revert_last(&db.url).expect("migration 023 reverts");
    revert_last(&db.url).expect("migration 022 reverts");
    revert_last(&db.url).expect("migration 021 reverts");
    revert_last(&db.url).expect("migration 020 reverts");
    revert_last(&db.url).expect("migration 019 reverts");
    revert_last(&db.url).expect("migration 018 reverts");
    revert_last(&db.url).expect("migration 017 reverts");
    revert_last(&db.url).expect("migration 016 reverts");
    revert_last(&db.url).expect("migration 015 reverts");
    let kind: i8 = owner
        .query_one(
            "SELECT relkind::\"char\" FROM pg_class WHERE oid = 'ingest.records'::regclass",
            &[],
        )
        .unwrap()
        .get::<_, i8>(0);
    assert_eq!(kind as u8, b'r', "one plain table before 015");
    let old_ms = now_ms() - 5 * DAY_MS;
    owner
        .batch_execute(
            "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record, status)
               VALUES (1, '\\x00', 3, 1, 3, 'committed');",
        )
        .unwrap();
    for seq in 1..=3i64 {
        let r = record(seq, old_ms + seq);
        owner
            .execute(
                "INSERT INTO ingest.records (record_seq, record_id, key_id, device_id, device_seq, content_sha256,
                                             patient, category, loinc, measured_at, ciphertext, ciphertext_sha256,
                                             batch_id, leaf_index)
                 VALUES ($1::bigint, $2, 'k-1', 'd-1', $1::bigint, $3, 'ehr1patient', 1, '8867-4',
                         to_timestamp($4::bigint / 1000.0), $5, $6, 1, $1::bigint - 1)",
                &[&seq, &format!("d-1:{seq}"), &sha256(&signed(seq, old_ms + seq)).as_slice(), &r.measured_at_ms,
                  &r.ciphertext, &r.ciphertext_sha256.as_slice()],
            )
            .unwrap();
    }
    owner
        .execute(
            "UPDATE ingest.counters SET next = 4 WHERE name = 'record_seq'",
            &[],
        )
        .unwrap();
    owner
        .execute(
            "UPDATE ingest.counters SET next = 2 WHERE name = 'batch_id'",
            &[],
        )
        .unwrap();

    // Analysts' readings of two pseudonyms, in two codes.
    owner
        .batch_execute(
            "INSERT INTO analytics.readings (pseudonym, loinc, value, unit, hour) VALUES
               ('p-old', '8867-4', 61, '/min', date_trunc('hour', now() - interval '5 days')),
               ('p-old', '8867-4', 62, '/min', date_trunc('hour', now() - interval '5 days')),
               ('p-other', '59408-5', 97, '%', date_trunc('hour', now() - interval '4 days'))",
        )
        .unwrap();
    // What analysts see, from here on.
    let rows_of = |owner: &mut postgres::Client| -> Vec<(String, String, f64, String)> {
        owner
            .query(
                "SELECT pseudonym, loinc, value, unit FROM analytics.readings ORDER BY value",
                &[],
            )
            .unwrap()
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    };
    let expected = vec![
        (
            "p-old".to_string(),
            "8867-4".to_string(),
            61.0,
            "/min".to_string(),
        ),
        ("p-old".into(), "8867-4".into(), 62.0, "/min".into()),
        ("p-other".into(), "59408-5".into(), 97.0, "%".into()),
    ];
    assert_eq!(rows_of(&mut owner), expected);

    // A row whose record id its device and sequence do not make: 015 and
    // 016 apply, 017 refuses and names the day; the row put right, it applies.
    owner
        .execute(
            "UPDATE ingest.records SET record_id = 'made-up' WHERE device_seq = 2",
            &[],
        )
        .unwrap();
    let refused = migrate(&db.url)
        .expect_err("migration 017 would lose a record id")
        .to_string();
    assert!(
        refused.contains("record id") && refused.contains("records_history"),
        "{refused}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.records WHERE record_id = 'made-up'"),
        1,
        "the row is left as it was"
    );
    owner
        .execute(
            "UPDATE ingest.records SET record_id = 'd-1:2' WHERE device_seq = 2",
            &[],
        )
        .unwrap();

    // Migrated: the readings stay, as the history partition.
    migrate(&db.url).expect("migration 015 applies to a database with readings");
    let history = partitions(&mut owner);
    assert_eq!(history.len(), 3);
    assert!(
        history.iter().all(|(_, p)| p == "ingest.records_history"),
        "{history:?}"
    );
    let highest: i64 = owner
        .query_one(
            "SELECT max_seq FROM ingest.device_seqs WHERE device_id = 'd-1'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(highest, 3);
    // Found through her pairs (migrations 016, 017), the index by patient
    // gone; each record's id derived as it was stored.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM ingest.records
             WHERE pair_no = ANY((SELECT ingest.pairs_of('ehr1patient'))::int[])"
        ),
        3
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM ingest.stored_records
             WHERE record_id = 'd-1:' || device_seq AND patient = 'ehr1patient' AND key_id = 'k-1'"
        ),
        3
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%(patient, category, measured_at)%'"),
        0
    );

    // The ingest service: a reading sent again (same time) and a sequence
    // reused at another time are both found; a new one is not.
    let mut store = Store::connect(&db.logins.ingest, "ehr1ingest").expect("ingest logs in");
    let found = store
        .stored(&[
            ("d-1".into(), 1, old_ms + 1),
            ("d-1".into(), 2, now_ms()),
            ("d-1".into(), 4, now_ms()),
        ])
        .unwrap();
    assert_eq!(
        found.get(&("d-1".into(), 1)),
        Some(&record(1, old_ms + 1).content_hash)
    );
    assert_eq!(
        found.get(&("d-1".into(), 2)),
        Some(&record(2, old_ms + 2).content_hash)
    );
    assert!(!found.contains_key(&("d-1".into(), 4)));

    // A new reading goes to its day's partition, and is found sent again.
    let at = now_ms();
    store
        .write(&[record(4, at)], &[])
        .unwrap()
        .expect("a batch");
    let today = format!(
        "ingest.records_{}",
        owner
            .query_one(
                "SELECT to_char(to_timestamp($1::bigint / 1000.0) AT TIME ZONE 'UTC', 'YYYYMMDD')",
                &[&at]
            )
            .unwrap()
            .get::<_, String>(0)
    );
    assert_eq!(partitions(&mut owner).last(), Some(&(4, today)));
    let again = store.stored(&[("d-1".into(), 4, at)]).unwrap();
    assert_eq!(
        again.get(&("d-1".into(), 4)),
        Some(&record(4, at).content_hash)
    );
    // Two services writing the same reading at once: the day's unique key
    // refuses the second.
    let twice = store.write(&[record(4, at)], &[]);
    assert!(
        twice.is_err_and(|e| e.is_transient()),
        "the same reading stored twice"
    );

    // Each names its data key by the number migration 018 gave it (the
    // three old ones) or the write found (the new one).
    assert_eq!(
        db.count(
            "SELECT count(*) FROM ingest.records r JOIN ingest.data_keys k USING (key_no)
             WHERE k.key_id = 'k-1' AND octet_length(r.content_hash) = 16"
        ),
        4
    );
    assert_eq!(db.count("SELECT count(*) FROM ingest.data_keys"), 1);

    // Analysts see what they saw, through numbered rows.
    assert_eq!(rows_of(&mut owner), expected);
    assert_eq!(db.count("SELECT count(*) FROM analytics.pseudonyms"), 2);
    assert_eq!(db.count("SELECT count(*) FROM analytics.codes"), 2);

    // A value whose pseudonym is not numbered stops the revert of 019 (022
    // and 020, the days' own keys, and 021, the analysts' values by day,
    // first);
    // gone, the revert spells every row out again.
    revert_last(&db.url).expect("migration 024 reverts");
    revert_last(&db.url).expect("migration 023 reverts");
    // Two batches numbering the same records stop migration 023 (a closed
    // row's batch follows from its number), naming both.
    owner
        .execute(
            "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record, status, writer)
             SELECT 999, merkle_root, record_count, first_record, last_record, 'pending', 'another-ingest'
             FROM ingest.batches ORDER BY batch_id LIMIT 1",
            &[],
        )
        .unwrap();
    let refused = ehr_migrations::apply_next(&db.url)
        .expect_err("migration 023 over overlapping batches")
        .to_string();
    assert!(
        refused.contains("number some of the same records") && refused.contains(" and 999"),
        "{refused}"
    );
    owner
        .execute("DELETE FROM ingest.batches WHERE batch_id = 999", &[])
        .unwrap();
    revert_last(&db.url).expect("migration 022 reverts");
    revert_last(&db.url).expect("migration 021 reverts");
    revert_last(&db.url).expect("migration 020 reverts");
    assert_eq!(
        db.count("SELECT count(*) FROM pg_constraint WHERE conrelid = 'ingest.records'::regclass AND contype IN ('p', 'u')"),
        2,
        "the readings' keys back on their table"
    );
    owner
        .execute(
            "INSERT INTO analytics.values (hour, value, pseudonym_no, code_no) VALUES (now(), 1, 999, 1)",
            &[],
        )
        .unwrap();
    let refused = revert_last(&db.url)
        .expect_err("migration 019 would lose a value")
        .to_string();
    assert!(refused.contains("cannot be reverted"), "{refused}");
    owner
        .execute("DELETE FROM analytics.values WHERE pseudonym_no = 999", &[])
        .unwrap();

    // Reverted: the four readings in one table; migrated again: all there.
    drop(store);
    revert_last(&db.url).expect("migration 019 reverts with analysts' readings");
    assert_eq!(rows_of(&mut owner), expected);
    assert_eq!(
        db.count("SELECT count(*) FROM pg_tables WHERE schemaname = 'analytics' AND tablename = 'readings'"),
        1,
        "a table again"
    );
    revert_last(&db.url).expect("migration 018 reverts with readings in daily partitions");
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.records WHERE key_id = 'k-1'"),
        4,
        "key ids spelled out again"
    );
    revert_last(&db.url).expect("migration 017 reverts with readings in daily partitions");
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.records WHERE record_id = 'd-1:' || device_seq AND patient = 'ehr1patient'"),
        4,
        "record ids and patients spelled out again"
    );
    // Each row holds its leaf again: the one its row kept (readings of
    // before trees), or its batch tree's (reading 4).
    assert_eq!(
        db.count(
            "SELECT count(*) FROM ingest.records WHERE ciphertext_sha256 = sha256(ciphertext)"
        ),
        4
    );
    revert_last(&db.url).expect("migration 016 reverts with readings in daily partitions");
    revert_last(&db.url).expect("migration 015 reverts with readings in daily partitions");
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.records WHERE device_id = 'd-1'"),
        4
    );
    migrate(&db.url).expect("and applies again");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM ingest.records
             WHERE pair_no = ANY((SELECT ingest.pairs_of('ehr1patient'))::int[])"
        ),
        4
    );
    let again = partitions(&mut owner);
    assert_eq!(
        again.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(rows_of(&mut owner), expected);
    // From 023 on, no batch may number a record another numbers.
    let refused = owner
        .execute(
            "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record, status, writer)
             SELECT 999, merkle_root, 2, last_record, last_record + 1, 'pending', 'another-ingest'
             FROM ingest.batches ORDER BY batch_id LIMIT 1",
            &[],
        )
        .expect_err("a batch numbering another's last record");
    let said = ehr_migrations::db_message(&refused);
    assert!(
        said.contains("no two batches may number the same record")
            && said.contains("SQLSTATE 23P01"),
        "{said}"
    );
    // Nor an empty batch, nor one whose range is not its count: the one
    // probe that refuses overlaps sees every batch only so.
    for (count, first, last) in [(0, 1_000_000i64, 999_999i64), (2, 1_000_000, 1_000_005)] {
        let refused = owner
            .execute(
                "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record, status, writer)
                 VALUES (998, '\\x00', $1, $2, $3, 'pending', 'another-ingest')",
                &[&count, &first, &last],
            )
            .expect_err("a batch whose range is not its count");
        let said = ehr_migrations::db_message(&refused);
        assert!(
            said.contains("batches_number_their_records") && said.contains("SQLSTATE 23514"),
            "{said}"
        );
    }
    // A batch of its own records, then moved onto another's: refused too.
    owner
        .execute(
            "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record, status, writer)
             VALUES (997, '\\x00', 1, 2000000, 2000000, 'pending', 'another-ingest')",
            &[],
        )
        .expect("a batch of records no other numbers");
    let refused = owner
        .execute(
            "UPDATE ingest.batches SET first_record = b.first_record, last_record = b.first_record
             FROM (SELECT min(first_record) AS first_record FROM ingest.batches) b WHERE batch_id = 997",
            &[],
        )
        .expect_err("a batch moved onto another's records");
    let said = ehr_migrations::db_message(&refused);
    assert!(
        said.contains("no two batches may number the same record"),
        "{said}"
    );
}
