//! kill -9 the ingest process at random moments, several times, while readings
//! flow; after the last restart every produced reading is stored exactly once,
//! every batch is consistent with its records, and all are anchored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ehr_client::readings::sign;
use ehr_ledger::crypto::merkle;
use ehr_testkit::stack::*;

const READINGS: u64 = 1500;

#[test]
fn every_reading_is_stored_once_despite_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();

    // A producer thread: readings in chunks of 20 every 100 ms.
    let payloads: Vec<Vec<u8>> = (1..=READINGS)
        .map(|s| sign(&heart_rate(s, 60.0 + (s % 50) as f64), &cast.hr))
        .collect();
    let address = broker.address.clone();
    let producer = std::thread::spawn(move || {
        let p = ehr_testkit::stack::producer_for(&address);
        use rdkafka::producer::Producer;
        for chunk in payloads.chunks(20) {
            for payload in chunk {
                while p
                    .send(
                        rdkafka::producer::BaseRecord::<(), [u8]>::to(TOPIC).payload(&payload[..]),
                    )
                    .is_err()
                {
                    p.poll(Duration::from_millis(10));
                }
            }
            p.flush(Duration::from_secs(10)).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    let mut kills = 0;
    // Fewer readings per round than the total, so that every round has work.
    for round in 0..5u64 {
        // (-1 before the first start has created the tables)
        let before = db.count("SELECT count(*) FROM ingest.records").max(0);
        let mut ingest = Ingest::start(dir.path(), &broker, &db, &chain.url, &cast.ingest);
        // Once it is storing, kill it at a moment that varies run to run: in the
        // middle of checking, writing or committing.
        wait_for("ingest to make progress", Duration::from_secs(60), || {
            db.count("SELECT count(*) FROM ingest.records") > before
        });
        let jitter = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_micros() as u64
            % 250_000;
        std::thread::sleep(Duration::from_micros(jitter));
        ingest.kill_9();
        kills += 1;
        eprintln!(
            "round {round}: killed with {} records stored",
            db.count("SELECT count(*) FROM ingest.records")
        );
    }
    producer.join().unwrap();
    let _ingest = Ingest::start(dir.path(), &broker, &db, &chain.url, &cast.ingest);
    let all = wait_until(Duration::from_secs(180), || {
        db.count("SELECT count(*) FROM ingest.records") == READINGS as i64
    });
    if !all {
        let stored: Vec<i64> = db
            .client()
            .expect("the test database answers")
            .query("SELECT device_seq FROM ingest.records ORDER BY 1", &[])
            .unwrap()
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        let missing: Vec<u64> = (1..=READINGS)
            .filter(|s| !stored.contains(&(*s as i64)))
            .collect();
        let in_topic = count_topic(&broker.address);
        panic!("{} of {READINGS} stored; missing {missing:?}; {in_topic} messages in the topic; the service's log ends:\n{}", stored.len(), log_tail(dir.path(), 40));
    }
    wait_for("every batch anchored", Duration::from_secs(180), || {
        db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'") == 0
    });

    assert_eq!(kills, 5);
    assert_eq!(
        db.count("SELECT count(DISTINCT device_seq) FROM ingest.records WHERE device_id = 'hr-1'"),
        READINGS as i64
    );
    assert_eq!(db.count("SELECT min(device_seq) FROM ingest.records"), 1);
    assert_eq!(
        db.count("SELECT max(device_seq) FROM ingest.records"),
        READINGS as i64
    );
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.rejects"),
        0,
        "a redelivery must never look like a reused sequence"
    );
    // Every batch is whole: its count, its range and its root match its records.
    let mut c = db.client().expect("the test database answers");
    for row in c.query("SELECT batch_id, merkle_root, record_count, first_record, last_record FROM ingest.batches", &[]).unwrap() {
        let (id, root, count, first, last): (i64, Vec<u8>, i32, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let leaves: Vec<[u8; 32]> = c
            .query("SELECT ciphertext_sha256, record_seq FROM ingest.records WHERE batch_id = $1 ORDER BY leaf_index", &[&id])
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
}

fn count_topic(address: &str) -> usize {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", address)
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
