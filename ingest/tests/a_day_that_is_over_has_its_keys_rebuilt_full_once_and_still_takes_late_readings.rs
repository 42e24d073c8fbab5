//! Rebuilding a finished day's keys (docs/ingest.md, "Closing a day"). Once
//! a day is over, `ehr-db close-days` rebuilds its two B-trees once
//! (`REINDEX CONCURRENTLY`), full rather than half full as a day's writes
//! leave them, dropping first what a failed rebuild left behind; the day
//! stays open: a late reading still reaches it, a reused sequence is still
//! refused by its unique key, and its readings are still served and proven.
//! Today is not rebuilt, nor a day twice.
//!
//! The readings are made a day old by moving stored rows to yesterday, as
//! the owner, as the closing's test does.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_testkit::stack::*;

/// The indexes of `partition`, each with the file it is stored in and
/// whether it is valid, by name.
fn index_files(db: &mut postgres::Client, partition: &str) -> Vec<(String, u32, bool)> {
    db.query(
        "SELECT x.relname::text, x.relfilenode, i.indisvalid FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
         WHERE i.indrelid = format('ingest.%I', $1::text)::regclass ORDER BY 1",
        &[&partition],
    )
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

fn rebuilt_at(s: &Stack, day: &str) -> i64 {
    s.db.count(&format!(
        "SELECT count(*) FROM ingest.record_days WHERE day = '{day}' AND keys_rebuilt_at IS NOT NULL"
    ))
}

#[test]
fn a_day_that_is_over_has_its_keys_rebuilt_full_once_and_still_takes_late_readings() {
    let s = Stack::start();
    s.broker.publish(
        &(1..=6)
            .map(|seq| sign(&heart_rate(seq, 60.0 + seq as f64), &s.cast.hr))
            .collect::<Vec<_>>(),
    );
    wait_for("6 readings anchored", Duration::from_secs(60), || {
        s.db.count("SELECT count(*) FROM ingest.stored_records r JOIN ingest.batches b USING (batch_id) WHERE b.status = 'committed'") == 6
    });
    let mut db = s.db.client().expect("the test database answers");
    let (yesterday, today) = (s.db.utc_day(1), s.db.utc_day(0));
    let partition = format!("records_{}", yesterday.replace('-', ""));
    db.execute(
        "SELECT ingest.make_record_days($1::text::date, $1::text::date)",
        &[&yesterday],
    )
    .unwrap();
    db.execute(
        "UPDATE ingest.records SET measured_at = ($1::text::date + time '12:00') AT TIME ZONE 'UTC'
                                                + device_seq * interval '1 second'",
        &[&yesterday],
    )
    .unwrap();
    assert_eq!(
        s.db.count(&format!("SELECT count(*) FROM ingest.{partition}")),
        6
    );
    // A rebuild that failed half way leaves an invalid index behind, as
    // PostgreSQL leaves any concurrent build that fails (here: not unique).
    let failed = db.batch_execute(&format!(
        "CREATE UNIQUE INDEX CONCURRENTLY {partition}_ccnew ON ingest.{partition} (category)"
    ));
    assert!(
        failed.is_err(),
        "six readings of one category are not unique"
    );
    let before = index_files(&mut db, &partition);
    assert_eq!(before.len(), 3, "{before:?}");
    assert!(before.iter().any(|(_, _, valid)| !valid), "{before:?}");

    // Rebuilt: its two keys in new files, the failed one dropped, still
    // valid and still its constraints.
    let out = s.close_days();
    assert!(
        out.contains(&format!("rebuilt the keys of {yesterday} (")),
        "{out}"
    );
    assert!(
        !out.contains(&format!("rebuilt the keys of {today}")),
        "{out}"
    );
    let after = index_files(&mut db, &partition);
    assert_eq!(
        after
            .iter()
            .map(|(n, _, v)| (n.as_str(), *v))
            .collect::<Vec<_>>(),
        [
            (format!("{partition}_pair_seq_key").as_str(), true),
            (format!("{partition}_pkey").as_str(), true)
        ],
        "{after:?}"
    );
    for (name, file, _) in &after {
        let (_, old_file, _) = before.iter().find(|(n, _, _)| n == name).unwrap();
        assert_ne!(file, old_file, "{name} rebuilt in a new file");
    }
    assert_eq!(rebuilt_at(&s, &yesterday), 1);
    assert_eq!(rebuilt_at(&s, &today), 0, "today is not over");

    // Still open: a late reading reaches it, a reused sequence is refused.
    let noon_ms: i64 = db
        .query_one(
            "SELECT (extract(epoch FROM ($1::text::date + time '12:00') AT TIME ZONE 'UTC') * 1000)::bigint",
            &[&yesterday],
        )
        .unwrap()
        .get(0);
    let late = |seq: u64, value: f64| {
        let mut r = heart_rate(seq, value);
        r.measured_at_ms = noon_ms + seq as i64 * 1000;
        sign(&r, &s.cast.hr)
    };
    s.broker.publish(&[late(7, 67.0), late(3, 99.0)]);
    wait_for("the late reading stored", Duration::from_secs(30), || {
        s.db.count(&format!("SELECT count(*) FROM ingest.{partition}")) == 7
    });
    wait_for(
        "the reused sequence refused",
        Duration::from_secs(30),
        || {
            s.db.count("SELECT count(*) FROM ingest.rejects WHERE reason = 'sequence_reused'") == 1
        },
    );

    // Once: the next run leaves the day's keys as they are.
    let out = s.close_days();
    assert!(!out.contains("rebuilt the keys"), "{out}");
    assert_eq!(index_files(&mut db, &partition), after);

    // Served and proven, the late one too.
    wait_for("7 readings anchored", Duration::from_secs(60), || {
        s.db.count("SELECT count(*) FROM ingest.stored_records r JOIN ingest.batches b USING (batch_id) WHERE b.status = 'committed'") == 7
    });
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for seq in 1..=7 {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!(" hr-1:{seq} "))
                    && l.trim_start().starts_with("verified")),
            "{text}"
        );
    }
}
