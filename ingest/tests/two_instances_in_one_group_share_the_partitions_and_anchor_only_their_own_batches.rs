//! Two ingest services of one hospital in one consumer group share a topic of
//! four partitions: Kafka gives each a share, every reading is stored once,
//! and each service anchors the batches it wrote, under its own key, and no
//! other — a batch is anchored once.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_ledger::proto::{ServiceKind, StoredBatchAnchor};
use ehr_testkit::actions::*;
use ehr_testkit::stack::*;

const READINGS: u64 = 1500;

#[test]
fn two_instances_in_one_group_share_the_partitions_and_anchor_only_their_own_batches() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let second = key("ingest-2@general");
    chain.send(
        &cast.admin,
        register_service(pk(&second), ServiceKind::Ingest),
    );
    let broker = Broker::with_partitions(4);
    let db = database();

    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _a = Ingest::start(home_a.path(), &broker, &db, &chain, &cast.ingest);
    let _b = Ingest::start(home_b.path(), &broker, &db, &chain, &second);
    // Readings in waves, so that both services are in the group while they flow.
    for wave in 0..5u64 {
        let seqs = (wave * READINGS / 5 + 1)..=((wave + 1) * READINGS / 5);
        let payloads: Vec<Vec<u8>> = seqs
            .flat_map(|s| {
                [
                    sign(&heart_rate(s, 70.0), &cast.hr),
                    sign(&spo2(s, 97.0), &cast.spo2),
                ]
            })
            .collect();
        broker.publish(&payloads);
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_for("every reading stored", Duration::from_secs(180), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 2 * READINGS as i64
    });
    wait_for("every batch anchored", Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'") == 0
    });
    assert_eq!(
        db.count("SELECT count(DISTINCT (device_id, device_seq)) FROM ingest.stored_records"),
        2 * READINGS as i64
    );
    let rejects: Vec<String> = db
        .client()
        .expect("the test database answers")
        .query("SELECT reason || ': ' || detail FROM ingest.rejects", &[])
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert!(rejects.is_empty(), "{rejects:?}");
    // Both worked, each anchored exactly what it wrote.
    let services = [
        cast.ingest.address().to_string(),
        second.address().to_string(),
    ];
    for s in &services {
        assert!(
            db.count(&format!(
                "SELECT count(*) FROM ingest.batches WHERE writer = '{s}'"
            )) > 0,
            "{s} wrote no batch: Kafka gave it no partition"
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.batches WHERE service IS DISTINCT FROM writer"),
        0,
        "a batch anchored by a service that did not write it"
    );
    // And on chain: each batch under its writer, none under the other.
    let mut c = db.client().expect("the test database answers");
    for row in c
        .query(
            "SELECT batch_id, writer, merkle_root FROM ingest.batches",
            &[],
        )
        .unwrap()
    {
        let (id, writer, root): (i64, String, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
        let other = services.iter().find(|s| **s != writer).unwrap();
        let mine: Option<StoredBatchAnchor> = chain.query(&format!("/batch/{writer}/{id}"));
        assert_eq!(mine.map(|a| a.merkle_root), Some(root), "batch {id}");
        let theirs: Option<StoredBatchAnchor> = chain.query(&format!("/batch/{other}/{id}"));
        assert!(theirs.is_none(), "batch {id} anchored twice");
    }
}
