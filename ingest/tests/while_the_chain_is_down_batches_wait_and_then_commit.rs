//! The chain goes away: readings are still stored (devices and grants come
//! from the cache), their batches stay pending; the chain comes back: every
//! pending batch is anchored and committed. Nothing is lost.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_ledger::proto::StoredBatchAnchor;
use ehr_testkit::stack::*;

#[test]
fn batches_pend_while_the_chain_is_down_and_commit_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("chain");
    let mut chain = Chain::start(&home, 0);
    let port = chain.port;
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);

    broker.publish(
        &(1..=20)
            .map(|s| sign(&heart_rate(s, 70.0), &cast.hr))
            .collect::<Vec<_>>(),
    );
    wait_for(
        "the first readings anchored",
        Duration::from_secs(120),
        || {
            db.count("SELECT count(*) FROM ingest.stored_records") == 20
                && db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'") == 0
        },
    );

    chain.stop();
    broker.publish(
        &(21..=60)
            .map(|s| sign(&heart_rate(s, 71.0), &cast.hr))
            .collect::<Vec<_>>(),
    );
    wait_for(
        "readings stored while the chain is down",
        Duration::from_secs(120),
        || db.count("SELECT count(*) FROM ingest.stored_records") == 60,
    );
    assert!(db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'") >= 1);
    wait_for(
        "failed anchoring attempts recorded",
        Duration::from_secs(60),
        || {
            db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending' AND attempts > 0 AND last_error IS NOT NULL") >= 1
        },
    );

    let chain = Chain::start(&home, port);
    wait_for(
        "every pending batch committed",
        Duration::from_secs(120),
        || db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'") == 0,
    );
    let mut c = db.client().expect("the test database answers");
    for row in c
        .query("SELECT batch_id, merkle_root FROM ingest.batches", &[])
        .unwrap()
    {
        let (batch_id, root): (i64, Vec<u8>) = (row.get(0), row.get(1));
        let anchor: StoredBatchAnchor = chain
            .query(&format!("/batch/{}/{batch_id}", cast.ingest.address()))
            .expect("anchored");
        assert_eq!(anchor.merkle_root, root);
    }
    assert_eq!(db.count("SELECT count(*) FROM ingest.stored_records"), 60);
    drop(ingest);
}
