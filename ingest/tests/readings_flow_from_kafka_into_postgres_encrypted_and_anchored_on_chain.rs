//! Readings in, through a real broker, into real PostgreSQL, anchored on the
//! chain: every reading stored once, encrypted for the patient and the
//! clinician holding a grant, batches committed with their heights, each
//! record's Merkle path leading to the root anchored on chain, research
//! readings de-identified for analysts — and a clean stop on SIGTERM.

use std::time::Duration;

use ehr_client::readings::{sign, sign_json};
use ehr_client::record_encryption::{decrypt_record, unwrap_key};
use ehr_ledger::crypto::{block_tree, merkle, Address};
use ehr_ledger::proto::{Reading, SignedReading, StoredBatchAnchor};
use ehr_testkit::stack::*;
use prost::Message;

#[test]
fn readings_are_stored_once_encrypted_for_their_readers_and_anchored() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();

    // 120 heart-rate readings of alice (half in the JSON form), 80 SpO2 of bob.
    let mut payloads = vec![];
    for seq in 1..=120u64 {
        let r = heart_rate(seq, 60.0 + (seq % 40) as f64);
        payloads.push(if seq % 2 == 0 {
            sign_json(&r, &cast.hr)
        } else {
            sign(&r, &cast.hr)
        });
    }
    for seq in 1..=80u64 {
        payloads.push(sign(&spo2(seq, 90.0 + (seq % 10) as f64), &cast.spo2));
    }
    broker.publish(&payloads);
    let mut ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);

    wait_for("200 records", Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 200
    });
    wait_for("every batch committed", Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.batches WHERE status = 'pending'") == 0
    });
    assert_eq!(db.count("SELECT count(*) FROM ingest.rejects"), 0);
    assert_eq!(
        db.count("SELECT count(DISTINCT (device_id, device_seq)) FROM ingest.stored_records"),
        200
    );
    let mut c = db.client().expect("the test database answers");
    let batches = c.query("SELECT batch_id, merkle_root, record_count, first_record, last_record, height FROM ingest.batches ORDER BY batch_id", &[]).unwrap();
    assert!(
        batches.len() >= 4,
        "batches of at most 50: {}",
        batches.len()
    );
    let total: i32 = batches.iter().map(|b| b.get::<_, i32>(2)).sum();
    assert_eq!(total, 200);

    // Each batch: its root is over its records' ciphertext hashes, in leaf order,
    // and is exactly what the chain holds for this service, at the stored height.
    for b in &batches {
        let (batch_id, root, count, height): (i64, Vec<u8>, i32, i64) =
            (b.get(0), b.get(1), b.get(2), b.get(5));
        let leaves: Vec<[u8; 32]> = c
            .query("SELECT ciphertext, ciphertext_sha256 FROM ingest.stored_records WHERE batch_id = $1 ORDER BY leaf_index", &[&batch_id])
            .unwrap()
            .into_iter()
            .map(|r| {
                let (ct, hash): (Vec<u8>, Vec<u8>) = (r.get(0), r.get(1));
                assert_eq!(ehr_ledger::crypto::sha256(&ct).to_vec(), hash, "the stored hash is the ciphertext's");
                hash.try_into().unwrap()
            })
            .collect();
        assert_eq!(leaves.len() as i32, count);
        assert_eq!(merkle::root(&leaves).to_vec(), root);
        let anchor: StoredBatchAnchor = chain
            .query(&format!("/batch/{}/{batch_id}", cast.ingest.address()))
            .expect("anchored on chain");
        assert_eq!(anchor.merkle_root, root);
        assert_eq!(anchor.height, height);
        // No path is stored with a record: each is derived from its slice of
        // the batch's tree, is its path, and verifies against the anchored root.
        let anchored: [u8; 32] = anchor.merkle_root.as_slice().try_into().unwrap();
        assert_eq!(
            c.query_one(
                "SELECT count(*) FROM ingest.records WHERE batch_id = $1 AND merkle_path IS NOT NULL",
                &[&batch_id]
            )
            .unwrap()
            .get::<_, i64>(0),
            0
        );
        let tree = c
            .query_one(
                "SELECT block_bits, tree FROM ingest.batch_trees WHERE batch_id = $1",
                &[&batch_id],
            )
            .expect("the batch keeps its tree");
        let (bits, tree): (i16, Vec<u8>) = (tree.get(0), tree.get(1));
        let layout = block_tree::Layout::new(count as usize, bits as u32).unwrap();
        assert_eq!(tree.len(), layout.blob_len());
        for (i, leaf) in leaves.iter().enumerate() {
            let path = merkle::proof(&leaves, i).unwrap();
            let slice = &tree[layout.slice_of(i).unwrap()];
            let (item, derived) = block_tree::path_from(slice, &layout, i).unwrap();
            assert_eq!(
                (item, derived.clone()),
                (*leaf, path),
                "the derived path of leaf {i}"
            );
            assert!(merkle::verify(&anchored, leaf, i, count as usize, &derived));
        }
    }

    // Alice's readings are readable by alice and by the doctor she granted; the
    // decrypted bytes are the device-signed reading.
    let rows = c
        .query(
            "SELECT r.record_id, r.ciphertext, w.reader, w.wrapped_key, r.key_id FROM ingest.stored_records r JOIN ingest.wrapped_keys w USING (key_id)
             WHERE r.device_id = 'hr-1' AND r.device_seq = 7",
            &[],
        )
        .unwrap();
    let readers: Vec<String> = rows.iter().map(|r| r.get(2)).collect();
    assert_eq!(readers.len(), 2, "{readers:?}");
    for row in &rows {
        let (record_id, ciphertext, reader, wrapped, key_id): (
            String,
            Vec<u8>,
            String,
            Vec<u8>,
            String,
        ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let reader: Address = reader.parse().unwrap();
        let secret = if reader == cast.alice.address() {
            &cast.alice
        } else {
            &cast.doctor
        };
        assert!(reader == cast.alice.address() || reader == cast.doctor.address());
        assert!(
            key_id.starts_with("k-"),
            "a key shared in its batch: {key_id}"
        );
        let key = unwrap_key(secret, &key_id, &wrapped).unwrap();
        assert!(
            unwrap_key(secret, &record_id, &wrapped).is_err(),
            "the wrap is bound to its key id"
        );
        let signed = SignedReading::decode(
            decrypt_record(&key, &record_id, &ciphertext)
                .unwrap()
                .as_slice(),
        )
        .unwrap();
        ehr_ledger::crypto::verify_signature(
            &cast.hr.public_key(),
            &signed.reading,
            &signed.signature,
        )
        .unwrap();
        let reading = Reading::decode(signed.reading.as_slice()).unwrap();
        assert_eq!((reading.device_id.as_str(), reading.seq), ("hr-1", 7));
        assert!(
            unwrap_key(&cast.bob, &key_id, &wrapped).is_err(),
            "nobody else can unwrap"
        );
    }
    // Bob granted nobody: his readings' keys are wrapped for him alone.
    let bob = cast.bob.address();
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM ingest.stored_records r WHERE r.device_id = 'spo2-1'
               AND (SELECT array_agg(w.reader) FROM ingest.wrapped_keys w WHERE w.key_id = r.key_id) <> ARRAY['{bob}']"
        )),
        0
    );
    // A key serves one patient's readings, across batches while her readers
    // stay the same, and is wrapped once per reader: bob's 80 readings came
    // in several batches, under one key.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM (SELECT key_id FROM ingest.stored_records GROUP BY key_id
                                   HAVING count(DISTINCT patient) > 1) k"
        ),
        0
    );
    assert!(
        db.count(
            "SELECT count(DISTINCT batch_id) FROM ingest.stored_records WHERE device_id = 'spo2-1'"
        ) > 1
    );
    let bobs_keys = db.count(
        "SELECT count(DISTINCT key_id) FROM ingest.stored_records WHERE device_id = 'spo2-1'",
    );
    assert_eq!(bobs_keys, 1, "{bobs_keys} keys");
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM ingest.wrapped_keys WHERE reader = '{bob}'"
        )),
        bobs_keys
    );

    // No plaintext anywhere in the tables: the JSON form's field names never appear.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM ingest.stored_records WHERE position('8867-4'::bytea in ciphertext) > 0"
        ),
        0
    );

    // Research consent: alice's readings, de-identified, rounded to the hour; not bob's.
    assert_eq!(db.count("SELECT count(*) FROM analytics.readings"), 120);
    assert_eq!(
        db.count("SELECT count(DISTINCT pseudonym) FROM analytics.readings"),
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM analytics.readings WHERE date_trunc('hour', hour) <> hour OR loinc <> '8867-4'"), 0);
    let pseudonym: String = c
        .query_one("SELECT pseudonym FROM analytics.readings LIMIT 1", &[])
        .unwrap()
        .get(0);
    assert!(
        !pseudonym.contains(&cast.alice.address().hex())
            && !pseudonym.contains(&cast.alice.address().to_string())
    );

    // Metrics tell the same story.
    let metrics = ingest.metrics_text();
    assert!(
        metrics.contains("ehr_ingest_readings_stored_total 200"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ehr_ingest_batches_pending 0"),
        "{metrics}"
    );

    // The same readings again (a producer retry): nothing stored twice.
    broker.publish(&payloads[..30]);
    wait_for("the duplicates to be seen", Duration::from_secs(60), || {
        ingest
            .metrics_text()
            .contains("ehr_ingest_readings_duplicate_total 30")
    });
    assert_eq!(db.count("SELECT count(*) FROM ingest.stored_records"), 200);

    // SIGTERM: a clean stop.
    assert!(ingest.terminate().success());
}
