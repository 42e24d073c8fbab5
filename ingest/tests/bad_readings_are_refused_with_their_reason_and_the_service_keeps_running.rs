//! A corpus of bad readings — over thirty kinds — each refused with its
//! reason into the rejects table and the dead-letter topic; the good readings
//! around them are stored, and the service keeps running.

use std::time::Duration;

use ehr_client::readings::{sign, sign_json};
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, BindDevice, Reading, RevokeDevice, SignedReading};
use ehr_testkit::stack::*;
use prost::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::Message as _;

fn raw(reading: &Reading, signature: Vec<u8>) -> Vec<u8> {
    SignedReading {
        reading: reading.encode_to_vec(),
        signature,
    }
    .encode_to_vec()
}

fn json(fields: &str) -> Vec<u8> {
    fields.as_bytes().to_vec()
}

#[test]
fn each_kind_of_bad_reading_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    // A device bound to bob and then revoked.
    let old = key("device old-1");
    chain.send(
        &cast.bob,
        Kind::BindDevice(BindDevice {
            device_id: "old-1".into(),
            public_key: old.public_key().to_bytes().to_vec(),
            patient: cast.bob.address().0.to_vec(),
        }),
    );
    chain.send(
        &cast.bob,
        Kind::RevokeDevice(RevokeDevice {
            device_id: "old-1".into(),
        }),
    );
    let broker = Broker::start();
    let db = database();

    let hr = &cast.hr;
    let good = heart_rate(1, 70.0);
    let day = 24 * 60 * 60 * 1000;
    // The malleated twin (n − s) of a valid signature.
    let high_s = high_s_twin(&hr.sign(&heart_rate(2, 71.0).encode_to_vec()));
    // Signed with one value, sent with another (still plausible).
    let signed_reading = heart_rate(3, 72.0);
    let tampered_sig = hr.sign(&signed_reading.encode_to_vec()).to_vec();
    let tampered = Reading {
        value: 73.0,
        ..signed_reading
    }
    .encode_to_vec();

    let corpus: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("oversize", vec![7u8; 5000]),
        ("undecodable", vec![0xff; 64]),
        ("undecodable", sign(&heart_rate(4, 70.0), hr)[..20].to_vec()),
        ("undecodable", SignedReading { reading: vec![0xff, 0xff, 0xff], signature: vec![1; 64] }.encode_to_vec()),
        ("missing_field", SignedReading { reading: vec![], signature: vec![1; 64] }.encode_to_vec()),
        ("bad_json", json("{\"device_id\": ")),
        ("bad_json", json("{\"device_id\":\"hr-1\",\"measured_at_ms\":1,\"loinc\":\"8867-4\",\"value\":70,\"unit\":\"/min\",\"signature\":\"00\"}")),
        ("bad_json", json("{\"device_id\":\"hr-1\",\"seq\":\"x\",\"measured_at_ms\":1,\"loinc\":\"8867-4\",\"value\":70,\"unit\":\"/min\",\"signature\":\"00\"}")),
        ("bad_json", json("{\"device_id\":\"hr-1\",\"seq\":5,\"measured_at_ms\":1,\"loinc\":\"8867-4\",\"value\":70,\"unit\":\"/min\",\"signature\":\"00\",\"patient\":\"alice\"}")),
        ("bad_signature", json(&format!("{{\"device_id\":\"hr-1\",\"seq\":5,\"measured_at_ms\":{},\"loinc\":\"8867-4\",\"value\":70,\"unit\":\"/min\",\"signature\":\"zz\"}}", now_ms()))),
        ("missing_field", sign(&Reading { device_id: String::new(), ..heart_rate(6, 70.0) }, hr)),
        ("bad_device_id", sign(&Reading { device_id: "hr 1/x".into(), ..heart_rate(6, 70.0) }, hr)),
        ("bad_sequence", sign(&heart_rate(0, 70.0), hr)),
        ("missing_field", sign(&Reading { loinc: String::new(), ..heart_rate(7, 70.0) }, hr)),
        ("missing_field", sign(&Reading { measured_at_ms: 0, ..heart_rate(7, 70.0) }, hr)),
        ("unsupported_code", sign(&Reading { loinc: "1234-4".into(), ..heart_rate(8, 70.0) }, hr)),
        ("wrong_unit", sign(&Reading { unit: "bpm".into(), ..heart_rate(9, 70.0) }, hr)),
        ("not_finite", sign(&heart_rate(10, f64::NAN), hr)),
        ("not_finite", sign(&heart_rate(11, f64::INFINITY), hr)),
        ("implausible_value", sign(&heart_rate(12, 500.0), hr)),
        ("implausible_value", sign(&heart_rate(13, 5.0), hr)),
        ("implausible_value", sign(&Reading { loinc: "59408-5".into(), unit: "%".into(), ..heart_rate(14, 120.0) }, hr)),
        ("implausible_value", sign(&Reading { loinc: "8310-5".into(), unit: "Cel".into(), ..heart_rate(15, 60.0) }, hr)),
        ("implausible_value", sign(&Reading { loinc: "8480-6".into(), unit: "mm[Hg]".into(), ..heart_rate(16, -10.0) }, hr)),
        ("future_time", sign(&Reading { measured_at_ms: now_ms() + day, ..heart_rate(17, 70.0) }, hr)),
        ("stale_time", sign(&Reading { measured_at_ms: now_ms() - 31 * day, ..heart_rate(18, 70.0) }, hr)),
        ("bad_signature", sign(&heart_rate(19, 70.0), &SecretKey::from_seed("mallory"))),
        ("bad_signature", raw(&heart_rate(20, 70.0), hr.sign(&heart_rate(20, 70.0).encode_to_vec())[..63].to_vec())),
        ("bad_signature", raw(&heart_rate(2, 71.0), high_s)),
        ("bad_signature", SignedReading { reading: tampered, signature: tampered_sig }.encode_to_vec()),
        ("bad_signature", sign_json(&heart_rate(21, 70.0), &SecretKey::from_seed("mallory"))),
        ("unknown_device", sign(&Reading { device_id: "ghost-9".into(), ..heart_rate(22, 70.0) }, hr)),
        ("revoked_device", sign(&Reading { device_id: "old-1".into(), ..heart_rate(1, 70.0) }, &old)),
        ("sequence_reused", sign(&heart_rate(1, 99.0), hr)),
    ];
    let kinds: std::collections::BTreeSet<String> = corpus
        .iter()
        .map(|(r, p)| format!("{r}:{}", p.len()))
        .collect();
    assert!(
        corpus.len() >= 30 && kinds.len() >= 30,
        "{} kinds",
        corpus.len()
    );

    // The good reading first, then the corpus, then another good one.
    let mut payloads = vec![sign(&good, hr)];
    payloads.extend(corpus.iter().map(|(_, p)| p.clone()));
    payloads.push(sign(&heart_rate(100, 80.0), hr));
    broker.publish(&payloads);
    let mut ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);

    let expected_rejects = corpus.len() as i64;
    wait_for("every message handled", Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.rejects") == expected_rejects
            && db.count("SELECT count(*) FROM ingest.stored_records") == 2
    });
    let mut c = db.client().expect("the test database answers");
    for (i, (reason, _)) in corpus.iter().enumerate() {
        let offset = i as i64 + 1;
        let row = c
            .query_one(
                "SELECT reason, detail, payload_size FROM ingest.rejects WHERE kafka_offset = $1",
                &[&offset],
            )
            .unwrap();
        let (got, detail): (String, String) = (row.get(0), row.get(1));
        assert_eq!(&got, reason, "message {offset}: {detail}");
        assert!(!detail.is_empty());
    }
    // The rejects table keeps hashes and sizes, never payloads.
    let columns: Vec<String> = c
        .query("SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'ingest' AND table_name = 'rejects'", &[])
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!columns.iter().any(|c| c == "payload"), "{columns:?}");

    // The dead-letter topic holds each refused message with its reason.
    let dlq: BaseConsumer = broker
        .client_config(ehr_testkit::kafka::ADMIN)
        .set("group.id", "dead-letter-reader")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    dlq.subscribe(&[DLQ]).unwrap();
    let mut reasons = vec![];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while reasons.len() < corpus.len() && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = dlq.poll(Duration::from_millis(500)) {
            let headers = m.headers().expect("headers");
            let reason = headers
                .iter()
                .find(|h| h.key == "ehr-reject-reason")
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).to_string());
            reasons.push(reason.expect("a reason header"));
        }
    }
    let mut want: Vec<String> = corpus.iter().map(|(r, _)| r.to_string()).collect();
    want.sort();
    reasons.sort();
    assert_eq!(reasons, want);

    // Still running, and still ingesting.
    assert!(ingest.is_running());
    broker.publish(&[sign(&heart_rate(101, 81.0), hr)]);
    wait_for("a later good reading", Duration::from_secs(60), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 3
    });
    let metrics = ingest.metrics_text();
    assert!(
        metrics.contains("ehr_ingest_readings_rejected_total{reason=\"bad_signature\"} 6"),
        "{metrics}"
    );
}

/// The high-S twin of a 64-byte low-S signature: s' = n − s.
fn high_s_twin(sig: &[u8; 64]) -> Vec<u8> {
    // n, the order of secp256k1.
    let n: [u8; 32] =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
            .unwrap()
            .try_into()
            .unwrap();
    let s = &sig[32..];
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = n[i] as i16 - s[i] as i16 - borrow;
        out[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    [&sig[..32], &out[..]].concat()
}
