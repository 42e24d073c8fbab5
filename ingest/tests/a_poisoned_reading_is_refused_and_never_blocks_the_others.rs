//! Poison never blocks the queue. Readings whose text fields carry a NUL
//! (which PostgreSQL refuses in a text column) or other control characters
//! arrive among good ones: each is refused with its reason, recorded in the
//! rejects table in a form PostgreSQL stores, and the good readings before and
//! after them are stored — the service does not retry the poll forever.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_testkit::stack::*;

fn json(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

#[test]
fn a_poisoned_reading_is_refused_and_never_blocks_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let hr = &cast.hr;
    let now = now_ms() - 1000;
    let reading = |fields: &str| {
        json(&format!(
            "{{\"seq\":7,\"measured_at_ms\":{now},\"value\":70,\"signature\":\"{}\",{fields}}}",
            "00".repeat(64)
        ))
    };
    let poison = [
        reading(r#""device_id":"hr-\u0000-1","loinc":"8867-4","unit":"/min""#),
        reading(r#""device_id":"hr-1","loinc":"8867-4\u0000","unit":"/min""#),
        reading(r#""device_id":"hr-1","loinc":"8867-4","unit":"/m\u0000in""#),
        reading(r#""device_id":"hr-1","loinc":"8867-4","unit":"/min","x\u0000y":1"#),
        reading(r#""device_id":"\u0000\u0001\u001b[31m","loinc":"8867-4","unit":"/min""#),
        b"\x00\x00\x00\xff{".to_vec(),
    ];
    let mut payloads = vec![sign(&heart_rate(1, 70.0), hr)];
    payloads.extend(poison.iter().cloned());
    payloads.push(sign(&heart_rate(2, 71.0), hr));
    broker.publish(&payloads);
    let mut ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);

    let poisoned = poison.len() as i64;
    let handled = wait_until(Duration::from_secs(60), || {
        db.count("SELECT count(*) FROM ingest.rejects") == poisoned
            && db.count("SELECT count(*) FROM ingest.stored_records") == 2
    });
    assert!(
        handled,
        "stuck: {} rejects, {} records\n{}",
        db.count("SELECT count(*) FROM ingest.rejects"),
        db.count("SELECT count(*) FROM ingest.stored_records"),
        log_tail(dir.path(), 15)
    );
    // Each refusal says why, with the control characters made visible.
    let mut c = db.client().expect("the test database answers");
    for row in c
        .query(
            "SELECT reason, detail, coalesce(device_id, '') FROM ingest.rejects ORDER BY kafka_offset",
            &[],
        )
        .unwrap()
    {
        let (reason, detail, device): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        assert!(!reason.is_empty() && !detail.is_empty());
        for text in [&detail, &device] {
            assert!(
                !text.chars().any(|ch| ch.is_control()),
                "{reason}: {text:?} keeps a control character"
            );
        }
    }
    let first: String = c
        .query_one(
            "SELECT coalesce(device_id, '') || ' ' || detail FROM ingest.rejects ORDER BY kafka_offset LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(first.contains("\\u{0}"), "{first}");

    // Still running, and still ingesting.
    assert!(ingest.is_running());
    broker.publish(&[sign(&heart_rate(3, 72.0), hr)]);
    wait_for("a later good reading", Duration::from_secs(60), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 3
    });
}

/// A reading PostgreSQL refuses for good (here a constraint the test adds:
/// no record with seq 5) is refused alone as `unstorable`, with PostgreSQL's
/// reason; the readings polled with it are stored.
#[test]
fn a_reading_postgresql_refuses_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    // The service creates its tables at start; then the constraint goes in.
    let mut ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);
    db.client()
        .expect("the test database answers")
        .batch_execute(
            "ALTER TABLE ingest.records ADD CONSTRAINT refuse_seq_5 CHECK (device_seq <> 5)",
        )
        .unwrap();
    let payloads: Vec<Vec<u8>> = (1..=9)
        .map(|s| sign(&heart_rate(s, 70.0 + s as f64), &cast.hr))
        .collect();
    broker.publish(&payloads);
    let handled = wait_until(Duration::from_secs(60), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 8
            && db.count("SELECT count(*) FROM ingest.rejects") == 1
    });
    assert!(handled, "stuck:\n{}", log_tail(dir.path(), 15));
    let (reason, detail, seq): (String, String, i64) = db
        .client()
        .expect("the test database answers")
        .query_one("SELECT reason, detail, device_seq FROM ingest.rejects", &[])
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    assert_eq!((reason.as_str(), seq), ("unstorable", 5));
    assert!(detail.contains("refuse_seq_5"), "{detail}");
    assert!(
        log_tail(dir.path(), 50).contains("SQLSTATE 23514"),
        "the log carries PostgreSQL's own reason"
    );
    assert!(ingest.is_running());
}
