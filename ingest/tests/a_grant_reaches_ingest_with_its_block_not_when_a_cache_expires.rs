//! Ingest caches who reads a patient's vitals (here for ten minutes), yet a
//! grant reaches it with the block that commits it: readings stored a
//! couple of blocks after a grant are wrapped for the new reader, and those
//! after a revocation are not — ingest follows the chain's grant events and
//! asks again, on proof, instead of waiting for its cache to expire. While
//! her readers stay the same, her readings of successive batches share one
//! data key; each change of readers gives a new one.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_ledger::proto::{
    action::Kind, grantee, AccessLevel, Category, GrantAccess, Grantee, RegisterStaff,
    RevokeAccess, Role,
};
use ehr_testkit::stack::*;

#[test]
fn a_grant_reaches_ingest_with_its_block_not_when_a_cache_expires() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let _ingest = Ingest::start_caching(dir.path(), &broker, &db, &chain, &cast.ingest, 600);
    let publish = |seqs: std::ops::RangeInclusive<u64>| {
        broker.publish(
            &seqs
                .map(|s| sign(&spo2(s, 97.0), &cast.spo2))
                .collect::<Vec<_>>(),
        )
    };
    let stored = |n: i64| {
        wait_for("the readings stored", Duration::from_secs(120), || {
            db.count("SELECT count(*) FROM ingest.stored_records") == n
        })
    };
    publish(1..=3);
    stored(3);
    publish(4..=5);
    stored(5);
    let keys = |from: u64, to: u64| {
        db.count(&format!(
            "SELECT count(DISTINCT key_id) FROM ingest.stored_records WHERE device_seq BETWEEN {from} AND {to}"
        ))
    };
    let batches = db.count(
        "SELECT count(DISTINCT batch_id) FROM ingest.stored_records WHERE device_seq BETWEEN 1 AND 5",
    );
    assert!(batches >= 2, "{batches} batch(es)");
    assert_eq!(keys(1, 5), 1, "one key across her batches");

    let nurse = key("nurse@general");
    chain.send(
        &cast.admin,
        Kind::RegisterStaff(RegisterStaff {
            public_key: nurse.public_key().to_bytes().to_vec(),
            role: Role::Nurse as i32,
        }),
    );
    let to_nurse = Some(Grantee {
        kind: Some(grantee::Kind::Clinician(nurse.address().0.to_vec())),
    });
    chain.send(
        &cast.bob,
        Kind::GrantAccess(GrantAccess {
            patient: cast.bob.address().0.to_vec(),
            grantee: to_nurse.clone(),
            categories: vec![Category::Vitals as i32],
            access: AccessLevel::Read as i32,
            expires_at: 4_102_444_800,
        }),
    );
    // A couple of blocks (empty ones every 500 ms here): the grant's block is
    // proven by the next header; the cache would hold the old answer 600 s.
    std::thread::sleep(Duration::from_millis(1500));
    publish(6..=10);
    stored(10);
    let wrapped_for_nurse = |from: u64, to: u64| {
        db.count(&format!(
            "SELECT count(*) FROM ingest.stored_records r JOIN ingest.wrapped_keys w
               ON w.key_id = r.key_id AND w.reader = '{}'
             WHERE r.device_seq BETWEEN {from} AND {to}",
            nurse.address()
        ))
    };
    assert_eq!(wrapped_for_nurse(1, 5), 0, "none before the grant");
    assert_eq!(wrapped_for_nurse(6, 10), 5, "every reading after it");
    assert_eq!(keys(1, 10), 2, "a new key for the new reader");

    chain.send(
        &cast.bob,
        Kind::RevokeAccess(RevokeAccess {
            patient: cast.bob.address().0.to_vec(),
            grantee: to_nurse,
            categories: vec![],
        }),
    );
    std::thread::sleep(Duration::from_millis(1500));
    publish(11..=15);
    stored(15);
    assert_eq!(wrapped_for_nurse(11, 15), 0, "none after the revocation");
    assert_eq!(keys(1, 15), 3, "a new key without the revoked reader");
}
