//! Closing a day (docs/ingest.md, "Partitions and retention"). A day no
//! reading can reach any more (more than 31 days old) is closed by the
//! database's owner with `ehr-db close-days`: its readings rewritten sorted by
//! pair and record and packed (the rarely set columns and the content hash
//! added after the rows, so that no row stores them), its two B-trees
//! replaced by one BRIN, and the day made to refuse readings; its analysts'
//! values packed by pseudonym, code and hour. Every stored reading stays as
//! it was, but for its content hash (no reading sent again can reach the
//! day), and analysts see the same rows; the gateway still serves and proves
//! the readings; a reading sent again under one of their sequences is still
//! refused as reused; an erasure still reaches readings and values. A day
//! still open is refused with a sentence. A later migration's rewrite of
//! every day (`ingest.rewrite_readings`) keeps a closed day closed. Reverting
//! migrations 021 and 020 opens closed days and spells the values out. An
//! open day's primary key leads with the pair (migration 022), the
//! history's does not. A closed row stores its batch and leaf index only
//! where they differ from what its record number says (migration 023).
//!
//! The readings (alice's and bob's, interleaved) are made old by moving
//! stored rows to a day 40 days back, as the owner, as the archive's test
//! does.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_testkit::stack::*;

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

/// The primary key of `partition`, as PostgreSQL spells it.
fn primary_key_of(db: &mut postgres::Client, partition: &str) -> String {
    db.query_one(
        &format!(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = 'ingest.{partition}'::regclass AND contype = 'p'"
        ),
        &[],
    )
    .unwrap()
    .get(0)
}

/// An open day's primary key leads with the pair (a page of her day is read
/// in record order, pair by pair); the history's stays by record (batches
/// from before trees are read by record number).
fn keyed_by_pair_but_the_history(db: &mut postgres::Client, open_day: &str) {
    assert_eq!(
        primary_key_of(db, open_day),
        "PRIMARY KEY (pair_no, record_seq, measured_at)"
    );
    assert_eq!(
        primary_key_of(db, "records_history"),
        "PRIMARY KEY (record_seq, measured_at)"
    );
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

/// The columns of `table` in the order its rows store them.
fn columns_of(db: &mut postgres::Client, table: &str) -> Vec<String> {
    db.query(
        "SELECT attname::text FROM pg_attribute
         WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        &[&table],
    )
    .unwrap()
    .into_iter()
    .map(|r| r.get(0))
    .collect()
}

/// What analysts see of the hours of `day`, one line a value.
fn analysed_on(db: &mut postgres::Client, day: &str) -> Vec<String> {
    db.query(
        "SELECT concat_ws('|', pseudonym, loinc, value, unit, hour) FROM analytics.readings
         WHERE (hour AT TIME ZONE 'UTC')::date = $1::text::date ORDER BY 1",
        &[&day],
    )
    .unwrap()
    .into_iter()
    .map(|r| r.get(0))
    .collect()
}

/// What PostgreSQL says refusing `call` of `day`.
fn refusal(db: &mut postgres::Client, call: &str, day: &str) -> String {
    let refused = db
        .query_one(&format!("CALL {call}($1::text::date, NULL)"), &[&day])
        .expect_err("the call refused");
    ehr_migrations::db_message(&refused)
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
    let (old, open) = (s.db.utc_day(40), s.db.utc_day(10));
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
    // Alice's analysts' values (she consents, bob does not) moved with them.
    db.execute(
        "UPDATE analytics.values SET hour = ($1::text::date + time '12:00') AT TIME ZONE 'UTC'",
        &[&old],
    )
    .unwrap();
    let analysed = analysed_on(&mut db, &old);
    assert_eq!(analysed.len(), 6, "{analysed:?}");

    // A day readings may still reach is not closed.
    for call in ["ingest.close_record_day", "analytics.close_value_day"] {
        let said = refusal(&mut db, call, &open);
        assert!(said.contains("may still receive readings"), "{said}");
    }
    // Nor are a day's values closed before its readings.
    let said = refusal(&mut db, "analytics.close_value_day", &old);
    assert!(
        said.contains("readings are not closed") && said.contains("SQLSTATE 22023"),
        "{said}"
    );

    // One of bob's readings with a leaf index unlike its number's (as a
    // batch from before ingest numbered leaves so could have): it alone
    // keeps its batch and index once closed; the others' follow from their
    // numbers.
    let odd_seq: i64 = db
        .query_one(
            "UPDATE ingest.records SET leaf_index = leaf_index + 1000
             WHERE record_seq = (SELECT max(record_seq) FROM ingest.stored_records WHERE device_id = 'spo2-1')
             RETURNING record_seq",
            &[],
        )
        .unwrap()
        .get(0);
    let before = stored_on(&mut db, &old);
    // Written after the others, whole, as every row keeping a rare column.
    let packed: Vec<i64> = sorted_by_pair
        .iter()
        .copied()
        .filter(|seq| *seq != odd_seq)
        .chain([odd_seq])
        .collect();

    // Closed: sorted by pair and record, one BRIN, no key (no foreign key:
    // nothing is written to it), every reading as it was.
    let out = s.close_days();
    assert!(
        out.contains(&format!("closed {old} (12 readings, 6 analysts' values)")),
        "{out}"
    );
    assert_eq!(in_order(&mut db, &partition, "ctid"), packed);
    // Packed: the columns set in every row first, widest first, the rarely
    // set ones and the emptied hash added after the rows were written.
    assert_eq!(
        columns_of(&mut db, &format!("ingest.{partition}")),
        [
            "record_seq",
            "measured_at",
            "device_seq",
            "pair_no",
            "key_no",
            "ciphertext",
            "category",
            "loinc",
            "batch_id",
            "erasure_id",
            "leaf_index",
            "ciphertext_sha256",
            "merkle_path",
            "content_hash"
        ]
    );
    // A row's batch and leaf index stored only where its number does not
    // say them: bob's odd one (kept odd: only alice's are fetched below).
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.{partition} WHERE batch_id IS NOT NULL OR leaf_index IS NOT NULL"
        )),
        1
    );
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.{partition} WHERE record_seq = {odd_seq} AND leaf_index IS NOT NULL"
        )),
        1
    );
    // Analysts see the same values, packed into one closed hour; the day's
    // partition of values is empty.
    assert_eq!(analysed_on(&mut db, &old), analysed);
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM analytics.values_{}",
            old.replace('-', "")
        )),
        0
    );
    assert_eq!(
        s.db.count("SELECT count(*) FROM analytics.closed_hours WHERE value_count = 6 AND cardinality(hour_values) = 6"),
        1
    );
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
    let today = format!("records_{}", s.db.utc_day(0).replace('-', ""));
    assert_eq!(indexes_of(&mut db, &today).len(), 2);
    assert_eq!(constraints_of(&mut db, &today), ["f", "p", "u"]);
    keyed_by_pair_but_the_history(&mut db, &today);
    // Nothing more to close, and a closed day is not closed twice.
    assert!(s.close_days().contains("no day to close"));
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
         SELECT ingest.rewrite_readings('records_same',
                    (SELECT 'SELECT ' || string_agg(quote_ident(attname), ', ' ORDER BY attnum) || ' FROM ingest.%I'
                     FROM pg_attribute WHERE attrelid = 'ingest.records'::regclass AND attnum > 0 AND NOT attisdropped),
                    'would be lost');",
    )
    .expect("the days rewritten");
    db.batch_execute(&format!("CREATE VIEW ingest.stored_records AS {view}"))
        .unwrap();
    assert_eq!(stored_on(&mut db, &old), before);
    assert_eq!(
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.{partition} WHERE batch_id IS NOT NULL OR leaf_index IS NOT NULL"
        )),
        1,
        "bob's odd reading alone keeps its batch and index after a rewrite"
    );
    assert_eq!(in_order(&mut db, &partition, "ctid"), packed);
    assert_eq!(
        columns_of(&mut db, &format!("ingest.{partition}"))
            .last()
            .map(String::as_str),
        Some("content_hash"),
        "packed again"
    );
    assert_eq!(indexes_of(&mut db, &partition).len(), 1);
    assert!(constraints_of(&mut db, &partition).is_empty());
    assert_eq!(constraints_of(&mut db, &today), ["f", "p", "u"]);
    keyed_by_pair_but_the_history(&mut db, &today);

    // The day refuses a reading, even the owner's (it may still be changed:
    // an erasure empties its ciphertexts).
    let copy = db
        .execute(
            &format!(
                "INSERT INTO ingest.records SELECT * FROM ingest.records
                 WHERE tableoid = 'ingest.{partition}'::regclass ORDER BY record_seq LIMIT 1"
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

    // Her closed day alone (a window the gateway reads in one scan of her
    // pairs' runs rather than pair by pair): the same six, verified.
    let since = format!("{old}T00:00:00Z");
    let until = format!("{}T00:00:00Z", s.db.utc_day(39));
    let out = s.ehr(&[
        "fetch",
        "--as",
        "doctor",
        "--patient",
        "alice",
        "--since",
        &since,
        "--until",
        &until,
    ]);
    let windowed = stdout(&out);
    assert!(out.status.success(), "{windowed}{}", stderr(&out));
    for seq in 1..=6 {
        assert!(
            windowed
                .lines()
                .any(|l| l.contains(&format!(" hr-1:{seq} "))
                    && l.trim_start().starts_with("verified")),
            "{windowed}"
        );
    }
    assert_eq!(
        windowed
            .lines()
            .filter(|l| l.trim_start().starts_with("verified"))
            .count(),
        6,
        "{windowed}"
    );

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
    s.erase_vitals("alice");
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
    assert_eq!(
        analysed_on(&mut db, &old),
        Vec::<String>::new(),
        "her closed values gone"
    );
    assert_eq!(s.db.count("SELECT count(*) FROM analytics.closed_hours"), 0);

    // Reverted, the values are spelled out again and the day is open again
    // (its keys back); applied again, every day is keyed as open, and the
    // day is closed again by the next run.
    db.execute(
        "INSERT INTO analytics.closed_hours (hour, pseudonym_no, code_no, value_count, hour_values)
         SELECT ($1::text::date + time '13:00') AT TIME ZONE 'UTC', pseudonym_no, code_no, 2, '{1.5, 2.5}'
         FROM analytics.pseudonyms, analytics.codes LIMIT 1",
        &[&old],
    )
    .unwrap();
    let derived = stored_on(&mut db, &old);
    ehr_migrations::revert_last(&s.db.url).expect("migration 024 reverts");
    ehr_migrations::revert_last(&s.db.url).expect("migration 023 reverts");
    // Every closed row's batch and leaf index written back, as derived (the
    // view now reads them from the rows).
    assert_eq!(stored_on(&mut db, &old), derived);
    ehr_migrations::revert_last(&s.db.url).expect("migration 022 reverts");
    assert_eq!(
        primary_key_of(&mut db, &today),
        "PRIMARY KEY (record_seq, measured_at)"
    );
    ehr_migrations::revert_last(&s.db.url).expect("migration 021 reverts");
    assert_eq!(
        analysed_on(&mut db, &old).len(),
        2,
        "the closed hour spelled out"
    );
    assert_eq!(
        s.db.count("SELECT count(*) FROM pg_class WHERE relname = 'closed_hours'"),
        0
    );
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
    let out = s.close_days();
    assert!(
        out.contains(&format!("closed {old} (12 readings, 2 analysts' values)")),
        "{out}"
    );
    assert_eq!(analysed_on(&mut db, &old).len(), 2);
    assert_eq!(indexes_of(&mut db, &partition).len(), 1);
}
