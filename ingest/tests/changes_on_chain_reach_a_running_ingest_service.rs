//! The chain changes while ingest runs: a device revoked stops being accepted
//! (within the cache time), and a clinician granted access later gets the new
//! readings' keys wrapped for them.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_ledger::proto::{
    action::Kind, grantee, AccessLevel, Category, GrantAccess, Grantee, RegisterStaff,
    RevokeDevice, Role,
};
use ehr_testkit::stack::*;

#[test]
fn revocations_and_new_grants_take_effect_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let _ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);

    broker.publish(
        &(1..=5)
            .map(|s| sign(&spo2(s, 97.0), &cast.spo2))
            .collect::<Vec<_>>(),
    );
    wait_for("bob's first readings", Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 5
    });
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM ingest.stored_records r
             WHERE (SELECT array_agg(w.reader) FROM ingest.wrapped_keys w WHERE w.key_id = r.key_id) <> ARRAY['{}']",
            cast.bob.address()
        )),
        0,
        "wrapped for bob alone"
    );

    // Bob grants a nurse his vitals; the next readings are wrapped for her too.
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
    std::thread::sleep(Duration::from_millis(1500)); // the service caches chain answers for 1 s here
    broker.publish(
        &(6..=10)
            .map(|s| sign(&spo2(s, 96.0), &cast.spo2))
            .collect::<Vec<_>>(),
    );
    wait_for("the next readings", Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 10
    });
    let nurse_address = nurse.address().to_string();
    let mut c = db.client().expect("the test database answers");
    let for_nurse: i64 = c
        .query_one(
            "SELECT count(*) FROM ingest.stored_records r JOIN ingest.wrapped_keys w
               ON w.key_id = r.key_id AND w.reader = $1 WHERE r.device_seq > 5",
            &[&nurse_address],
        )
        .unwrap()
        .get(0);
    let readable_by_nurse: i64 = c
        .query_one(
            "SELECT count(*) FROM ingest.stored_records r JOIN ingest.wrapped_keys w
               ON w.key_id = r.key_id AND w.reader = $1",
            &[&nurse_address],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        (for_nurse, readable_by_nurse),
        (5, 5),
        "readings after the grant are wrapped for the nurse, earlier ones are not"
    );

    // Bob revokes the device: its readings are refused from then on.
    chain.send(
        &cast.bob,
        Kind::RevokeDevice(RevokeDevice {
            device_id: "spo2-1".into(),
        }),
    );
    std::thread::sleep(Duration::from_millis(1500));
    broker.publish(
        &(11..=13)
            .map(|s| sign(&spo2(s, 96.0), &cast.spo2))
            .collect::<Vec<_>>(),
    );
    wait_for("the refusals", Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.rejects WHERE reason = 'revoked_device'") == 3
    });
    assert_eq!(db.count("SELECT count(*) FROM ingest.stored_records"), 10);
}
