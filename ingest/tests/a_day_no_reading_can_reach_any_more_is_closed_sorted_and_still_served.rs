//! Closing a day (docs/ingest.md, "Partitions and retention"). A day no
//! reading can reach any more (more than 31 days old) is closed by the
//! database's owner with `ehr-db close-days`: its readings rewritten sorted by
//! pair and record, its two B-trees replaced by one BRIN, and the day made to
//! refuse readings. Every stored reading stays as it was, but for its content
//! hash (no reading sent again can reach the day); the gateway still serves
//! and proves them; a reading sent again under one of their sequences is
//! still refused as reused; an erasure still reaches them. A day still open
//! is refused with a sentence. A later migration's rewrite of every day
//! (`ingest.rewrite_readings`) keeps a closed day closed. Reverting
//! migration 020 opens closed days.
//!
//! The readings (alice's and bob's, interleaved) are made old by moving
//! stored rows to a day 40 days back, as the owner, as the archive's test
//! does.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_testkit::stack::*;

/// The UTC day `back` days before today, as YYYY-MM-DD.
fn day(db: &mut postgres::Client, back: i32) -> String {
    db.query_one(
        "SELECT to_char((now() AT TIME ZONE 'UTC')::date - $1::int, 'YYYY-MM-DD')",
        &[&back],
    )
    .unwrap()
    .get(0)
}

/// Every column of the readings stored on `day`, as the owner's view names
/// them (content hash aside), one line a reading in record order.
fn stored_on(db: &mut postgres::Client, day: &str) -> String {
    db.query_one(
        "SELECT string_agg(concat_ws('|', record_seq, record_id, device_id, device_seq, patient, category,
                                     loinc, measured_at, encode(ciphertext, 'hex'),
                                     encode(ciphertext_sha256, 'hex'), batch_id, leaf_index, key_id,
                                     erasure_id, stored_at),
                           E'\n' ORDER BY record_seq)
         FROM ingest.stored_records WHERE (measured_at AT TIME ZONE 'UTC')::date = $1::text::date",
        &[&day],
    )
    .unwrap()
    .get(0)
}

/// The day's rows' record numbers in the order `order` gives them (`ctid`:
/// as they lie in its table).
fn in_order(db: &mut postgres::Client, partition: &str, order: &str) -> Vec<i64> {
    db.query(
        &format!("SELECT record_seq FROM ingest.{partition} ORDER BY {order}"),
        &[],
    )
    .unwrap()
    .into_iter()
    .map(|r| r.get(0))
    .collect()
}

fn constraints_of(db: &mut postgres::Client, partition: &str) -> Vec<String> {
    db.query(
        &format!(
            "SELECT contype::text FROM pg_constraint WHERE conrelid = 'ingest.{partition}'::regclass ORDER BY 1"
        ),
        &[],
    )
    .unwrap()
    .into_iter()
    .map(|r| r.get(0))
    .collect()
}

fn indexes_of(db: &mut postgres::Client, partition: &str) -> Vec<String> {
    db.query(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'ingest' AND tablename = $1 ORDER BY 1",
        &[&partition],
    )
    .unwrap()
    .into_iter()
    .map(|r| r.get(0))
    .collect()
}

fn close_days(s: &Stack) -> String {
    let o = std::process::Command::new(binary("ehr-db"))
        .arg("close-days")
        .env("DATABASE_URL", &s.db.url)
        .output()
        .expect("ehr-db runs");
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_day_no_reading_can_reach_any_more_is_closed_sorted_and_still_served() {
    let s = Stack::start();
    // Alice's heart rates and bob's saturations, one after the other: their
    // record numbers interleave.
    let payloads: Vec<Vec<u8>> = (1..=6)
        .flat_map(|seq| {
            [
                sign(&heart_rate(seq, 60.0 + seq as f64), &s.cast.hr),
                sign(&spo2(seq, 90.0 + seq as f64), &s.cast.spo2),
            ]
        })
        .collect();
    s.broker.publish(&payloads);
    wait_for("12 readings anchored", Duration::from_secs(60), || {
        s.db.count(
            "SELECT count(*) FROM ingest.records r JOIN ingest.batches b USING (batch_id)
             WHERE b.status = 'committed'",
        ) == 12
    });
    let mut db = s.db.client().expect("the test database answers");
    let (old, open) = (day(&mut db, 40), day(&mut db, 10));
    let partition = format!("records_{}", old.replace('-', ""));

    // Moved to noon of a day 40 back, the last first: they lie in its table
    // in the reverse of their order.
    db.execute(
        "SELECT ingest.make_record_days($1::text::date, $1::text::date)",
        &[&old],
    )
    .unwrap();
    let seqs: Vec<i64> = in_order(&mut db, "records", "record_seq DESC");
    for seq in &seqs {
        db.execute(
            "UPDATE ingest.records SET measured_at = ($1::text::date + time '12:00') AT TIME ZONE 'UTC'
                                                    + device_seq * interval '1 second'
             WHERE record_seq = $2",
            &[&old, seq],
        )
        .unwrap();
    }
    let written = in_order(&mut db, &partition, "ctid");
    assert_eq!(written, seqs);
    let sorted_by_pair = in_order(&mut db, &partition, "pair_no, record_seq");
    let sorted_by_record = in_order(&mut db, &partition, "record_seq");
    assert_ne!(sorted_by_pair, sorted_by_record, "the two pairs interleave");
    let before = stored_on(&mut db, &old);
    assert_eq!(before.lines().count(), 12);

    // A day readings may still reach is not closed.
    let refused = db
        .query_one(
            "CALL ingest.close_record_day($1::text::date, NULL)",
            &[&open],
        )
        .expect_err("a day 10 back closed");
    let said = ehr_migrations::db_message(&refused);
    assert!(said.contains("may still receive readings"), "{said}");

    // Closed: sorted by pair and record, one BRIN, no key (no foreign key:
    // nothing is written to it), every reading as it was.
    let out = close_days(&s);
    assert!(
        out.contains(&format!("closed {old} (12 readings)")),
        "{out}"
    );
    assert_eq!(in_order(&mut db, &partition, "ctid"), sorted_by_pair);
    let indexes = indexes_of(&mut db, &partition);
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    assert!(indexes[0].contains("USING brin"), "{indexes:?}");
    assert!(constraints_of(&mut db, &partition).is_empty());
    assert_eq!(stored_on(&mut db, &old), before);
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.{partition} WHERE content_hash = ''"
        )),
        12
    );
    assert!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.record_days WHERE day = '{old}' AND closed_at IS NOT NULL"
        )) == 1
    );
    // Open days keep their keys, each its own.
    let today = format!("records_{}", day(&mut db, 0).replace('-', ""));
    assert_eq!(indexes_of(&mut db, &today).len(), 2);
    assert_eq!(constraints_of(&mut db, &today), ["f", "p", "u"]);
    // Nothing more to close, and a closed day is not closed twice.
    assert!(close_days(&s).contains("no day to close"));
    let again: i64 = db
        .query_one(
            "CALL ingest.close_record_day($1::text::date, NULL)",
            &[&old],
        )
        .unwrap()
        .get(0);
    assert_eq!(again, 0);

    // A later migration's rewrite of every day (here into the same layout)
    // keeps the closed day closed and sorted, and keys the open ones.
    let view: String = db
        .query_one("SELECT pg_get_viewdef('ingest.stored_records')", &[])
        .unwrap()
        .get(0);
    db.batch_execute(
        "DROP VIEW ingest.stored_records;
         CREATE TABLE ingest.records_same (LIKE ingest.records INCLUDING DEFAULTS) PARTITION BY RANGE (measured_at);
         SELECT ingest.rewrite_readings('records_same', 'SELECT * FROM ingest.%I', 'would be lost');",
    )
    .expect("the days rewritten");
    db.batch_execute(&format!("CREATE VIEW ingest.stored_records AS {view}"))
        .unwrap();
    assert_eq!(stored_on(&mut db, &old), before);
    assert_eq!(in_order(&mut db, &partition, "ctid"), sorted_by_pair);
    assert_eq!(indexes_of(&mut db, &partition).len(), 1);
    assert!(constraints_of(&mut db, &partition).is_empty());
    assert_eq!(constraints_of(&mut db, &today), ["f", "p", "u"]);

    // The day refuses a reading, even the owner's (it may still be changed:
    // an erasure empties its ciphertexts).
    let copy = db
        .execute(
            &format!(
                "INSERT INTO ingest.records SELECT * FROM ingest.{partition} ORDER BY record_seq LIMIT 1"
            ),
            &[],
        )
        .expect_err("a reading stored on a closed day");
    let said = ehr_migrations::db_message(&copy);
    assert!(
        said.contains(&format!(
            "no reading is accepted for {old}: the day is closed"
        )) && said.contains("SQLSTATE 22023"),
        "{said}"
    );

    // Served and proven as before.
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(!text.contains("spo2-1:"), "{text}");
    for seq in 1..=6 {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!(" hr-1:{seq} "))
                    && l.trim_start().starts_with("verified")),
            "{text}"
        );
    }

    // A reading sent again under a closed day's sequence, claiming today, is
    // refused as reused; the next one is stored.
    s.broker.publish(&[
        sign(&heart_rate(2, 99.0), &s.cast.hr),
        sign(&heart_rate(7, 70.0), &s.cast.hr),
    ]);
    wait_for("the next reading stored", Duration::from_secs(30), || {
        s.db.count("SELECT count(*) FROM ingest.stored_records WHERE record_id = 'hr-1:7'") == 1
    });
    wait_for(
        "the reused sequence refused",
        Duration::from_secs(30),
        || {
            s.db.count("SELECT count(*) FROM ingest.rejects WHERE reason = 'sequence_reused'") == 1
        },
    );

    // Her erasure of her vitals reaches the closed day.
    let o = s.ehr(&[
        "tx",
        "--from",
        "alice",
        "erase",
        "--patient",
        "alice",
        "--category",
        "vitals",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    wait_for("the closed day erased", Duration::from_secs(30), || {
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.{partition} r JOIN ingest.patient_devices d USING (pair_no)
             WHERE d.device_id = 'hr-1' AND r.erasure_id IS NOT NULL AND r.ciphertext IS NULL"
        )) == 6
    });
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.{partition} WHERE erasure_id IS NULL AND ciphertext IS NOT NULL"
        )),
        6,
        "bob's readings are not erased"
    );

    // Reverted, the day is open again (its keys back); applied again, every
    // day is keyed as open, and the day is closed again by the next run.
    ehr_migrations::revert_last(&s.db.url).expect("migration 020 reverts");
    assert_eq!(indexes_of(&mut db, &partition).len(), 2);
    assert_eq!(
        s.db.count("SELECT count(*) FROM pg_trigger WHERE tgname = 'refuse_readings'"),
        0,
        "no day refuses readings after the revert"
    );
    assert_eq!(
        constraints_of(&mut db, "records")
            .iter()
            .filter(|c| *c != "c")
            .count(),
        3,
        "the keys back on the readings' table"
    );
    ehr_migrations::migrate(&s.db.url).expect("migration 020 applies again");
    assert_eq!(indexes_of(&mut db, &partition).len(), 2);
    assert!(close_days(&s).contains(&format!("closed {old} (12 readings)")));
    assert_eq!(indexes_of(&mut db, &partition).len(), 1);
}
