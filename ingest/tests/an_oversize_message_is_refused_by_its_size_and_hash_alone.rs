//! A message far larger than any reading (half a mebibyte) is refused as
//! `oversize` from its size and hash alone: the rejects table has its true
//! size and SHA-256, and the dead-letter topic gets its origin, size and hash
//! without the payload — the service never copies it. The readings around it
//! are stored.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_ledger::crypto::sha256;
use ehr_testkit::stack::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::Message as _;

#[test]
fn an_oversize_message_is_refused_by_its_size_and_hash_alone() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let huge = vec![b'{'; 512 * 1024];
    broker.publish(&[
        sign(&heart_rate(1, 70.0), &cast.hr),
        huge.clone(),
        sign(&heart_rate(2, 71.0), &cast.hr),
    ]);
    let _ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);
    wait_for(
        "the three messages handled",
        Duration::from_secs(60),
        || {
            db.count("SELECT count(*) FROM ingest.stored_records") == 2
                && db.count("SELECT count(*) FROM ingest.rejects") == 1
        },
    );
    let (reason, size, hash): (String, i32, Vec<u8>) = db
        .client()
        .expect("the test database answers")
        .query_one(
            "SELECT reason, payload_size, payload_sha256 FROM ingest.rejects",
            &[],
        )
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    assert_eq!(reason, "oversize");
    assert_eq!(size as usize, huge.len());
    assert_eq!(hash, sha256(&huge).to_vec());

    let dlq: BaseConsumer = broker
        .client_config(ehr_testkit::kafka::ADMIN)
        .set("group.id", "dead-letter-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    dlq.subscribe(&[DLQ]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let message = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing dead-lettered"
        );
        if let Some(Ok(m)) = dlq.poll(Duration::from_millis(500)) {
            break m.detach();
        }
    };
    assert!(message.payload().unwrap_or_default().is_empty());
    let header = |key: &str| {
        let headers = message.headers().expect("headers");
        headers
            .iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).to_string())
            .unwrap_or_default()
    };
    assert_eq!(header("ehr-reject-reason"), "oversize");
    assert_eq!(header("ehr-payload-size"), huge.len().to_string());
    assert_eq!(header("ehr-payload-sha256"), hex::encode(sha256(&huge)));
}
