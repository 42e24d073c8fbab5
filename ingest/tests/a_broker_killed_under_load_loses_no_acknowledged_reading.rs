//! Kafka as a hospital runs it: three brokers, the readings topic on all
//! three with two in sync, a device gateway producing with `acks=all` and
//! idempotence. While a device streams readings and ingest consumes them,
//! the broker leading the topic is killed -9, then started again: every
//! reading the broker acknowledged is stored once, none is refused as a
//! replay, and every batch is anchored.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ehr_client::readings::sign;
use ehr_testkit::stack::*;
use rdkafka::client::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

/// Readings the device sends: about ten seconds at its pace.
const READINGS: u64 = 3000;
const PER_SECOND: u64 = 300;

/// What the broker said of each reading sent.
#[derive(Default)]
struct Acknowledged {
    seqs: Mutex<BTreeSet<u64>>,
    failed: AtomicU64,
}

impl ClientContext for Acknowledged {}

impl ProducerContext for Acknowledged {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Box<u64>) {
        match result {
            Ok(_) => {
                self.seqs.lock().unwrap().insert(*seq);
            }
            Err((e, _)) => {
                eprintln!("reading {seq} not acknowledged: {e}");
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[test]
fn a_broker_killed_under_load_loses_no_acknowledged_reading() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let mut broker = Broker::cluster(3, 1);
    let db = database();
    let _ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);

    let producer: BaseProducer<Acknowledged> = broker
        .producer_config()
        .create_with_context(Acknowledged::default())
        .expect("the device gateway's producer");
    let producer = Arc::new(producer);
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let device = {
        let (producer, sent, done, key) = (
            producer.clone(),
            sent.clone(),
            done.clone(),
            cast.hr.clone(),
        );
        std::thread::spawn(move || {
            for seq in 1..=READINGS {
                let payload = sign(&heart_rate(seq, 60.0 + (seq % 40) as f64), &key);
                let mut record = BaseRecord::with_opaque_to(TOPIC, Box::new(seq))
                    .key("hr-1")
                    .payload(&payload);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((_, r)) => {
                            producer.poll(Duration::from_millis(20));
                            record = r;
                        }
                    }
                }
                sent.store(seq, Ordering::Relaxed);
                producer.poll(Duration::ZERO);
                std::thread::sleep(Duration::from_micros(1_000_000 / PER_SECOND));
            }
            producer
                .flush(Duration::from_secs(120))
                .expect("every reading answered");
            done.store(true, Ordering::Relaxed);
        })
    };

    wait_for(
        "a third of the readings sent",
        Duration::from_secs(60),
        || sent.load(Ordering::Relaxed) >= READINGS / 3,
    );
    let leader = broker.leader_of(0);
    broker.kill_broker(leader);
    eprintln!(
        "killed broker {} (the topic's leader) after reading {}",
        leader + 1,
        sent.load(Ordering::Relaxed)
    );
    wait_for(
        "two thirds of the readings sent",
        Duration::from_secs(120),
        || sent.load(Ordering::Relaxed) >= 2 * READINGS / 3,
    );
    broker.restart_broker(leader);
    eprintln!(
        "broker {} is back after reading {}",
        leader + 1,
        sent.load(Ordering::Relaxed)
    );
    device.join().expect("the device's thread");
    assert!(done.load(Ordering::Relaxed));

    let context = producer.context();
    let acknowledged = context.seqs.lock().unwrap().clone();
    assert_eq!(
        context.failed.load(Ordering::Relaxed),
        0,
        "with two of three brokers in sync, no reading goes unacknowledged"
    );
    assert_eq!(acknowledged.len() as u64, READINGS);
    let all = wait_until(Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.stored_records") >= READINGS as i64
    });
    assert!(
        all,
        "{} of {READINGS} acknowledged readings stored; ingest's log ends:\n{}",
        db.count("SELECT count(*) FROM ingest.stored_records"),
        log_tail(dir.path(), 30)
    );
    let stored: BTreeSet<u64> = db
        .client()
        .unwrap()
        .query(
            "SELECT device_seq FROM ingest.stored_records WHERE device_id = 'hr-1'",
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|r| r.get::<_, i64>(0) as u64)
        .collect();
    assert_eq!(stored, acknowledged, "every acknowledged reading stored");
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.stored_records"),
        READINGS as i64,
        "each once"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.rejects"),
        0,
        "no redelivery refused as a replay"
    );
    wait_for("every batch anchored", Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'") == 0
    });
}
