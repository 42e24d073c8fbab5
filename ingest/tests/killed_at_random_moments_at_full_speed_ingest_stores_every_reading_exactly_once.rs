//! kill -9 the ingest process at random moments, several times, while it
//! works at full speed through a backlog (its top rate: it never waits for
//! readings) of two patients' devices; after the last restart every reading
//! is stored exactly once, every batch is consistent with its records, every
//! record's shared data key is wrapped for its patient and opens it, and all
//! batches are anchored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ehr_client::readings::sign;
use ehr_client::record_encryption::{decrypt_record, unwrap_key};
use ehr_ledger::crypto::merkle;
use ehr_testkit::stack::*;
use rayon::prelude::*;

/// Readings of each device in the backlog at first; more are published
/// whenever less than a round's work is left, however fast the service is.
const READINGS: u64 = 4000;
/// What one round is sure to leave undone (both devices together).
const ROUND_OF_WORK: i64 = 4000;

#[test]
fn every_reading_is_stored_once_despite_kill_9_at_full_speed() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();

    // Readings `from..=to` of both devices, published in one go.
    let publish = |from: u64, to: u64| {
        let payloads: Vec<Vec<u8>> = (from..=to)
            .into_par_iter()
            .flat_map_iter(|s| {
                [
                    sign(&heart_rate(s, 60.0 + (s % 50) as f64), &cast.hr),
                    sign(&spo2(s, 90.0 + (s % 10) as f64), &cast.spo2),
                ]
            })
            .collect();
        broker.publish(&payloads);
    };
    // The whole first backlog is in Kafka before the service first starts.
    publish(1, READINGS);
    let mut published = READINGS;
    let full_speed = ["--batch-size", "500", "--batch-ms", "250"];
    let start = || Ingest::start_with(dir.path(), &broker, &db, &chain, &cast.ingest, &full_speed);

    let mut kills = 0;
    for round in 0..5u64 {
        // (-1 before the first start has created the tables)
        let before = db
            .count("SELECT count(*) FROM ingest.stored_records")
            .max(0);
        // Every round has work to be killed in the middle of.
        if 2 * published as i64 - before < ROUND_OF_WORK {
            publish(published + 1, published + ROUND_OF_WORK as u64 / 2);
            published += ROUND_OF_WORK as u64 / 2;
        }
        let mut ingest = start();
        // Once it is storing, kill it at a moment that varies run to run (up
        // to a second, a few batches): in the middle of polling, checking,
        // writing or committing.
        wait_for("ingest to make progress", Duration::from_secs(60), || {
            db.count("SELECT count(*) FROM ingest.stored_records") > before
        });
        let jitter = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_micros() as u64
            % 1_000_000;
        std::thread::sleep(Duration::from_micros(jitter));
        ingest.kill_9();
        kills += 1;
        eprintln!(
            "round {round}: killed with {} records stored",
            db.count("SELECT count(*) FROM ingest.stored_records")
        );
    }
    let _ingest = start();
    let all = wait_until(Duration::from_secs(180), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 2 * published as i64
    });
    if !all {
        let stored: Vec<i64> = db
            .client()
            .expect("the test database answers")
            .query(
                "SELECT device_seq FROM ingest.stored_records WHERE device_id = 'hr-1' ORDER BY 1",
                &[],
            )
            .unwrap()
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        let missing: Vec<u64> = (1..=published)
            .filter(|s| !stored.contains(&(*s as i64)))
            .collect();
        let in_topic = count_topic(&broker);
        panic!("{} of hr-1's {published} stored; missing {missing:?}; {in_topic} messages in the topic; the service's log ends:\n{}", stored.len(), log_tail(dir.path(), 40));
    }
    wait_for("every batch anchored", Duration::from_secs(180), || {
        db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'") == 0
    });

    assert_eq!(kills, 5);
    for device in ["hr-1", "spo2-1"] {
        assert_eq!(
            db.count(&format!(
                "SELECT count(DISTINCT device_seq) FROM ingest.stored_records WHERE device_id = '{device}'"
            )),
            published as i64
        );
        assert_eq!(
            db.count(&format!(
                "SELECT min(device_seq) FROM ingest.stored_records WHERE device_id = '{device}'"
            )),
            1
        );
        assert_eq!(
            db.count(&format!(
                "SELECT max(device_seq) FROM ingest.stored_records WHERE device_id = '{device}'"
            )),
            published as i64
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.rejects"),
        0,
        "a redelivery must never look like a reused sequence"
    );
    // Every batch is whole: its count, its range and its root match its
    // records' ciphertexts.
    let mut c = db.client().expect("the test database answers");
    for row in c.query("SELECT batch_id, merkle_root, record_count, first_record, last_record FROM ingest.batches", &[]).unwrap() {
        let (id, root, count, first, last): (i64, Vec<u8>, i32, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let leaves: Vec<[u8; 32]> = c
            .query("SELECT sha256(ciphertext), record_seq FROM ingest.records WHERE batch_id = $1 ORDER BY leaf_index", &[&id])
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                assert_eq!(r.get::<_, i64>(1), first + i as i64);
                r.get::<_, Vec<u8>>(0).try_into().unwrap()
            })
            .collect();
        assert_eq!(leaves.len() as i32, count);
        assert_eq!(last - first + 1, count as i64);
        assert_eq!(merkle::root(&leaves).to_vec(), root);
    }
    // A key written before a kill is never half there: each record's key is
    // wrapped for its patient, and opens the record.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM ingest.stored_records r WHERE NOT EXISTS
               (SELECT 1 FROM ingest.wrapped_keys w WHERE w.key_id = r.key_id AND w.reader = r.patient)"
        ),
        0
    );
    let one_per_batch = c
        .query(
            "SELECT DISTINCT ON (r.batch_id, r.patient) r.record_id, r.key_id, r.ciphertext, w.wrapped_key, r.device_id
             FROM ingest.stored_records r JOIN ingest.wrapped_keys w ON w.key_id = r.key_id AND w.reader = r.patient",
            &[],
        )
        .unwrap();
    assert!(one_per_batch.len() >= 2);
    for row in one_per_batch {
        let (record_id, key_id, ciphertext, wrapped, device): (
            String,
            String,
            Vec<u8>,
            Vec<u8>,
            String,
        ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let patient = if device == "hr-1" {
            &cast.alice
        } else {
            &cast.bob
        };
        let key = unwrap_key(patient, &key_id, &wrapped).expect("the patient opens the key");
        decrypt_record(&key, &record_id, &ciphertext).expect("the key opens the record");
    }
}

fn count_topic(broker: &Broker) -> usize {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = broker
        .client_config(ehr_testkit::kafka::ADMIN)
        .set("group.id", "counter")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    c.subscribe(&[TOPIC]).unwrap();
    let mut n = 0;
    let mut idle = 0;
    while idle < 20 {
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(_)) => {
                n += 1;
                idle = 0;
            }
            _ => idle += 1,
        }
    }
    n
}
