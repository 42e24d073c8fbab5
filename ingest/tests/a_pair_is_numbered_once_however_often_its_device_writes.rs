//! A reading's row names its (patient, device) pair by an int4
//! (`ingest.patient_devices.pair_no`, migration 017), made with the pair's
//! first reading. Writes of a known pair draw no number: an insert that met
//! its conflict would still draw one, and at a hospital's pace (a write of
//! each bed every 250 ms) the numbers would run out within months, every
//! reading refused after.

use std::sync::Arc;

use ehr_ingest::reading::content_hash;
use ehr_ingest::store::{NewKey, NewRecord, Source, Store};
use ehr_ledger::crypto::sha256;
use ehr_testkit::stack::database;

fn reading(device: &str, patient: &str, seq: i64) -> NewRecord {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ciphertext = format!("ciphertext of {device} {seq}").into_bytes();
    NewRecord {
        source: Source {
            topic: "ehr.readings".into(),
            partition: 0,
            offset: seq,
            payload_sha256: sha256(&ciphertext),
            payload_size: 100,
        },
        device_id: device.into(),
        device_seq: seq,
        content_hash: content_hash(format!("{device} {seq}").as_bytes()),
        patient: patient.into(),
        category: 1,
        loinc: "8867-4".into(),
        measured_at_ms: at_ms,
        ciphertext_sha256: sha256(&ciphertext),
        ciphertext,
        key: Arc::new(NewKey {
            key_id: format!("k-{patient}"),
            wraps: vec![],
        }),
        analytics: None,
    }
}

#[test]
fn a_pair_is_numbered_once_however_often_its_device_writes() {
    let db = database();
    let mut store = Store::connect(&db.logins.ingest, "ehr1ingest").expect("ingest logs in");
    let drawn = || {
        db.count(
            "SELECT coalesce(last_value, 0) FROM pg_sequences
             WHERE schemaname = 'ingest' AND sequencename = 'patient_devices_pair_no_seq'",
        )
    };
    for seq in 1..=20 {
        store
            .write(
                &[
                    reading("hr-1", "ehr1alice", seq),
                    reading("hr-2", "ehr1bob", seq),
                ],
                &[],
            )
            .expect("stored")
            .expect("a batch");
    }
    assert_eq!(db.count("SELECT count(*) FROM ingest.patient_devices"), 2);
    assert_eq!(
        drawn(),
        2,
        "only the two pairs' first readings drew a number"
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM ingest.records
             WHERE pair_no = ANY((SELECT ingest.pairs_of('ehr1alice'))::int[])"
        ),
        20
    );
    // A third pair draws the third number.
    store
        .write(
            &[
                reading("hr-3", "ehr1carol", 1),
                reading("hr-1", "ehr1alice", 21),
            ],
            &[],
        )
        .expect("stored")
        .expect("a batch");
    assert_eq!(drawn(), 3);
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.stored_records WHERE patient = 'ehr1carol' AND device_id = 'hr-3'"),
        1
    );
}
