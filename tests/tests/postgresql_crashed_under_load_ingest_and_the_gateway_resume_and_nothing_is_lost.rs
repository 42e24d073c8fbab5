//! PostgreSQL crashes (an immediate shutdown: every connection cut, no
//! checkpoint) while a device streams readings and a doctor reads, then
//! recovers from its write-ahead log. Ingest and the gateway ride it out
//! without restarting: ingest stores every reading once after the server is
//! back (the broker keeps what was not yet committed), every batch is
//! anchored; the gateway refuses reads while the database is away, with a
//! reason, and serves again after; every read served is on chain.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ehr_client::readings::sign;
use ehr_testkit::postgres::Postgres;
use ehr_testkit::stack::*;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const READINGS: u64 = 2000;
const PER_SECOND: u64 = 200;

#[test]
fn postgresql_crashed_under_load_ingest_and_the_gateway_resume_and_nothing_is_lost() {
    let mut server = Postgres::start(&ehr_testkit::pki::for_tests())
        .unwrap_or_else(|e| panic!("a PostgreSQL server of the test's own: {e}"));
    let db = TestDatabase::create_on(&server.admin_url).expect("a database on it");
    let mut s = Stack::start_with_database(db);

    let sent = Arc::new(AtomicU64::new(0));
    let device = {
        let producer: BaseProducer = s.broker.producer_config().create().unwrap();
        let (sent, key) = (sent.clone(), s.cast.hr.clone());
        std::thread::spawn(move || {
            for seq in 1..=READINGS {
                let payload = sign(&heart_rate(seq, 60.0 + (seq % 40) as f64), &key);
                let mut record = BaseRecord::to(TOPIC).key("hr-1").payload(&payload);
                while let Err((_, r)) = producer.send(record) {
                    producer.poll(Duration::from_millis(20));
                    record = r;
                }
                producer.poll(Duration::ZERO);
                sent.store(seq, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(1_000_000 / PER_SECOND));
            }
            producer
                .flush(Duration::from_secs(60))
                .expect("every reading acknowledged");
        })
    };

    wait_for(
        "readings stored before the crash",
        Duration::from_secs(60),
        || s.db.count("SELECT count(*) FROM ingest.stored_records") > 100,
    );
    assert!(
        s.doctor_reads_alice().is_ok_and(|n| n > 0),
        "the doctor reads before the crash"
    );
    server.crash();
    let crashed = Instant::now();
    eprintln!(
        "PostgreSQL crashed after reading {} was sent",
        sent.load(Ordering::Relaxed)
    );
    let (code, sentence) = s
        .doctor_reads_alice()
        .expect_err("no read is served without the database");
    eprintln!("a read while it is down: {sentence}");
    assert_eq!(code, "database_unavailable", "{sentence}");
    std::thread::sleep(Duration::from_secs(3));
    server
        .start_again()
        .unwrap_or_else(|e| panic!("PostgreSQL recovers: {e}"));
    eprintln!(
        "PostgreSQL took connections again {:.1} s after the crash",
        crashed.elapsed().as_secs_f64()
    );

    let served_again = wait_until(Duration::from_secs(60), || s.doctor_reads_alice().is_ok());
    assert!(
        served_again,
        "the gateway serves again: {:?}",
        s.doctor_reads_alice()
    );
    eprintln!(
        "the gateway served again {:.1} s after the crash",
        crashed.elapsed().as_secs_f64()
    );
    device.join().expect("the device's thread");

    let all = wait_until(Duration::from_secs(120), || {
        s.db.count("SELECT count(*) FROM ingest.stored_records") >= READINGS as i64
    });
    assert!(
        all,
        "{} of {READINGS} readings stored; ingest's log ends:\n{}",
        s.db.count("SELECT count(*) FROM ingest.stored_records"),
        log_tail(s.dir.path(), 30)
    );
    assert_eq!(
        s.db.count("SELECT count(*) FROM ingest.stored_records"),
        READINGS as i64
    );
    assert_eq!(
        s.db.count(
            "SELECT count(DISTINCT device_seq) FROM ingest.stored_records WHERE device_id = 'hr-1'"
        ),
        READINGS as i64,
        "every reading once"
    );
    assert_eq!(s.db.count("SELECT count(*) FROM ingest.rejects"), 0);
    let anchored = wait_until(Duration::from_secs(120), || {
        s.db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'") == 0
    });
    assert!(
        anchored,
        "{} batches still pending; ingest's log ends:\n{}",
        s.db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'"),
        log_tail(s.dir.path(), 40)
    );
    assert!(
        s.ingest.is_running(),
        "ingest rode out the crash without exiting"
    );
    assert!(
        s.gateway.is_running(),
        "the gateway rode out the crash without exiting"
    );
    s.disclosures_logged();
}
