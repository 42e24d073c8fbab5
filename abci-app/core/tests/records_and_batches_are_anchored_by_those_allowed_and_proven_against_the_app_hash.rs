//! Anchors: a record anchor by its patient or a clinician with write access; a
//! batch anchor (Merkle root) by an ingest service. A record and its Merkle path
//! prove it was anchored, against a state proof of the batch under the app hash.

use ehr_ledger::crypto::{merkle, sha256};
use ehr_ledger::ledger::query::{decode_proof, encode_proof};
use ehr_ledger::ledger::QueryCode;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::storage::verify_proof;
use ehr_ledger::Code;
use ehr_testkit::world::*;
use prost::Message;

#[test]
fn a_record_is_anchored_by_its_patient_or_a_clinician_with_write_access() {
    let mut w = World::new();
    let tx = w.alice.tx(anchor("note-1", &w.alice, Category::Notes));
    w.ok(tx);
    let tx = w
        .alice_guardian
        .tx(anchor("note-2", &w.alice, Category::Notes));
    w.ok(tx);
    // Read access is not enough to write.
    let g = w.grant(
        w.nurse.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.nurse.tx(anchor("vit-1", &w.alice, Category::Vitals));
    w.refused(tx, Code::NoAccess);
    let g = w.grant(
        w.nurse.addr(),
        &[Category::Vitals],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.nurse.tx(anchor("vit-1", &w.alice, Category::Vitals));
    w.ok(tx);
    // Only in the granted category.
    let tx = w.nurse.tx(anchor("img-1", &w.alice, Category::Imaging));
    w.refused(tx, Code::NoAccess);
    // Record ids are unique; services and other patients may not anchor records.
    let tx = w.alice.tx(anchor("note-1", &w.alice, Category::Notes));
    w.refused(tx, Code::RecordExists);
    let tx = w.ingest.tx(anchor("x-1", &w.alice, Category::Vitals));
    w.refused(tx, Code::WrongRole);
    let tx = w.bob.tx(anchor("x-2", &w.alice, Category::Vitals));
    w.refused(tx, Code::NotPatientOrGuardian);
    let tx = w.stranger.tx(anchor("x-3", &w.alice, Category::Vitals));
    w.refused(tx, Code::NotRegistered);
    // "all" is not a record category.
    let tx = w.alice.tx(anchor("x-4", &w.alice, Category::All));
    w.refused(tx, Code::InvalidField);

    let stored: StoredRecordAnchor = w.query("/record/vit-1");
    assert_eq!(stored.author, w.nurse.addr());
    assert_eq!(
        stored.record.unwrap().ciphertext_sha256,
        sha256(b"vit-1").to_vec()
    );
}

#[test]
fn a_record_in_an_anchored_batch_is_proven_from_the_app_hash_down() {
    let mut w = World::new();
    // The ingest service's batch: hashes of eight ciphertexts.
    let ciphertexts: Vec<Vec<u8>> = (0..8)
        .map(|i| format!("ciphertext {i}").into_bytes())
        .collect();
    let hashes: Vec<[u8; 32]> = ciphertexts.iter().map(|c| sha256(c)).collect();
    let root = merkle::root(&hashes);
    let tx = w.ingest.tx(Kind::AnchorBatch(AnchorBatch {
        batch_id: 7,
        merkle_root: root.to_vec(),
        record_count: 8,
        first_record: 100,
        last_record: 107,
    }));
    w.ok(tx);
    let app_hash = w.node.app_hash();
    let height = w.node.height();

    // A reader asks for the batch anchor with a proof…
    let path = format!("/batch/{}/7", w.ingest.address());
    let answer = w.node.ledger.query(&path, &[], 0, true);
    assert_eq!(answer.code, QueryCode::Ok, "{}", answer.log);
    assert_eq!(answer.height, height);
    // …the proof travels as bytes and still verifies against the app hash.
    let proof = decode_proof(&encode_proof(answer.proof.as_ref().unwrap())).unwrap();
    verify_proof(app_hash, &answer.key, Some(&answer.value), &proof).expect("state proof verifies");
    let batch = StoredBatchAnchor::decode(answer.value.as_slice()).unwrap();
    assert_eq!(batch.height as u64, height);

    // …and the record's Merkle path leads to the anchored root.
    let index = 5;
    let merkle_path = merkle::proof(&hashes, index).unwrap();
    let anchored_root: [u8; 32] = batch.merkle_root.as_slice().try_into().unwrap();
    assert!(merkle::verify(
        &anchored_root,
        &sha256(&ciphertexts[index]),
        index,
        batch.record_count as usize,
        &merkle_path
    ));
    // An altered ciphertext does not.
    assert!(!merkle::verify(
        &anchored_root,
        &sha256(b"altered"),
        index,
        batch.record_count as usize,
        &merkle_path
    ));

    // A forged value, or another height's app hash, does not verify.
    let mut forged = batch.clone();
    forged.record_count = 9;
    assert!(verify_proof(app_hash, &answer.key, Some(&forged.encode_to_vec()), &proof).is_err());
    w.node.block(vec![]).unwrap();
    assert!(verify_proof(w.node.app_hash(), &answer.key, Some(&answer.value), &proof).is_err());
}

#[test]
fn absence_is_proven_too_and_past_heights_stay_queryable() {
    let mut w = World::new();
    let before = w.node.height();
    let before_hash = w.node.app_hash();
    let tx = w.alice.tx(anchor("note-1", &w.alice, Category::Notes));
    w.ok(tx);
    // At the earlier height the record did not exist, provably.
    let answer = w.node.ledger.query("/record/note-1", &[], before, true);
    assert_eq!(answer.code, QueryCode::NotFound);
    verify_proof(
        before_hash,
        &answer.key,
        None,
        answer.proof.as_ref().unwrap(),
    )
    .expect("absence proof verifies");
    // Heights not yet reached are refused; lists are not provable.
    let future = w
        .node
        .ledger
        .query("/record/note-1", &[], before + 100, true);
    assert_eq!(future.code, QueryCode::HeightUnavailable);
    let list = w
        .node
        .ledger
        .query(&format!("/grants/{}", w.alice.address()), &[], 0, true);
    assert_eq!(list.code, QueryCode::NotProvable);
    let bad = w.node.query("/no/such/path");
    assert_eq!(bad.code, QueryCode::BadPath);
    assert!(bad.log.contains("docs/ledger.md"));
    let bad_addr = w.node.query("/participant/not-an-address");
    assert_eq!(bad_addr.code, QueryCode::BadPath);
}

#[test]
fn only_an_ingest_service_anchors_batches_once_per_id() {
    let mut w = World::new();
    let batch = |id: u64| {
        Kind::AnchorBatch(AnchorBatch {
            batch_id: id,
            merkle_root: vec![9; 32],
            record_count: 3,
            first_record: 1,
            last_record: 3,
        })
    };
    let tx = w.ingest.tx(batch(1));
    w.ok(tx);
    let tx = w.ingest.tx(batch(1));
    w.refused(tx, Code::BatchExists);
    for signer in [&mut w.gateway, &mut w.doctor, &mut w.admin, &mut w.alice] {
        let tx = signer.tx(batch(2));
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::WrongRole, "{}", r.log);
    }
    // The range must cover exactly the count.
    let uneven = Kind::AnchorBatch(AnchorBatch {
        batch_id: 3,
        merkle_root: vec![9; 32],
        record_count: 3,
        first_record: 1,
        last_record: 5,
    });
    let tx = w.ingest.tx(uneven);
    w.refused(tx, Code::InvalidField);
}
