//! A clinician's key is suspended (a stolen laptop): with its answers cached
//! for ten minutes, ingest still wraps nothing for that key from the block
//! that suspends it — it follows the chain's `participant_status` events and
//! asks again, on proof — and wraps for it again once it is reinstated.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_ledger::proto::{
    action::Kind, grantee, AccessLevel, Category, GrantAccess, Grantee, RegisterStaff,
    ReinstateParticipant, Role, SuspendParticipant,
};
use ehr_testkit::stack::*;

#[test]
fn a_suspended_clinician_gets_no_key_from_the_block_that_suspends_him() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let nurse = key("nurse@general");
    chain.send(
        &cast.admin,
        Kind::RegisterStaff(RegisterStaff {
            public_key: nurse.public_key().to_bytes().to_vec(),
            role: Role::Nurse as i32,
        }),
    );
    chain.send(
        &cast.bob,
        Kind::GrantAccess(GrantAccess {
            patient: cast.bob.address().0.to_vec(),
            grantee: Some(Grantee {
                kind: Some(grantee::Kind::Clinician(nurse.address().0.to_vec())),
            }),
            categories: vec![Category::Vitals as i32],
            access: AccessLevel::Read as i32,
            expires_at: 4_102_444_800,
        }),
    );
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
    let wrapped_for_nurse = |from: u64, to: u64| {
        db.count(&format!(
            "SELECT count(*) FROM ingest.stored_records r JOIN ingest.wrapped_keys w
               ON w.key_id = r.key_id AND w.reader = '{}'
             WHERE r.device_seq BETWEEN {from} AND {to}",
            nurse.address()
        ))
    };
    publish(1..=5);
    stored(5);
    assert_eq!(wrapped_for_nurse(1, 5), 5, "her grantee's key, before");

    let status = |kind: Kind| chain.send(&cast.admin, kind);
    status(Kind::Suspend(SuspendParticipant {
        address: nurse.address().0.to_vec(),
    }));
    // A couple of blocks (empty ones every 500 ms here): the suspension's
    // block is proven by the next header; the cache would hold the old
    // answer 600 s.
    std::thread::sleep(Duration::from_millis(1500));
    publish(6..=10);
    stored(10);
    assert_eq!(wrapped_for_nurse(6, 10), 0, "nothing for the suspended key");

    status(Kind::Reinstate(ReinstateParticipant {
        address: nurse.address().0.to_vec(),
    }));
    std::thread::sleep(Duration::from_millis(1500));
    publish(11..=15);
    stored(15);
    assert_eq!(
        wrapped_for_nurse(11, 15),
        5,
        "her grantee again once reinstated"
    );
}
