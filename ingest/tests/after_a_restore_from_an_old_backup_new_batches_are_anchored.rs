//! PostgreSQL is restored from a backup older than what the chain anchored:
//! the batch counter goes back to 1 while the chain already holds batches 1…N
//! of this service. Restarted, ingest numbers its batches on from the chain's
//! next id (`/next-batch/<service>`), so every new batch is anchored and none
//! collides with an anchor it can never match — which left batches pending
//! for ever, unnoticed. How long the oldest batch waits is a metric.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_ledger::proto::Counter;
use ehr_testkit::stack::*;

#[test]
fn after_a_restore_from_an_old_backup_new_batches_are_anchored() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let publish = |seqs: std::ops::RangeInclusive<u64>| {
        broker.publish(
            &seqs
                .map(|s| sign(&heart_rate(s, 70.0), &cast.hr))
                .collect::<Vec<_>>(),
        )
    };
    let all_anchored = |n: i64| {
        db.count("SELECT count(*) FROM ingest.stored_records") == n
            && db.count("SELECT count(*) FROM ingest.batches WHERE status <> 'committed'") == 0
    };

    let mut ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);
    publish(1..=20);
    wait_for(
        "the first readings anchored",
        Duration::from_secs(120),
        || all_anchored(20),
    );
    let anchored = db.count("SELECT max(batch_id) FROM ingest.batches");
    let next: Counter = chain
        .query(&format!("/next-batch/{}", cast.ingest.address()))
        .expect("the chain keeps the service's next batch id");
    assert_eq!(next.next, anchored as u64 + 1);
    ingest.kill_9();

    // The restore: what the backup did not have is gone, counters included.
    let mut owner = db.client().unwrap();
    owner
        .batch_execute(
            "TRUNCATE ingest.wrapped_keys, ingest.records, ingest.batch_trees, ingest.batches, ingest.data_keys,
                      analytics.values, analytics.pseudonyms, analytics.codes;
             UPDATE ingest.counters SET next = 1;",
        )
        .unwrap();

    let ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);
    publish(21..=40);
    let anchored_again = wait_until(Duration::from_secs(120), || all_anchored(20));
    assert!(
        anchored_again,
        "the readings after the restore are not all anchored:\n{}",
        log_tail(dir.path(), 20)
    );
    assert!(db.count("SELECT min(batch_id) FROM ingest.batches") > anchored);
    let text = ingest.metrics_text();
    assert!(
        text.contains("ehr_ingest_oldest_pending_batch_seconds"),
        "{text}"
    );
}
