//! The chain's "no such device" is not remembered: a device whose first
//! reading arrived before its binding was committed has its next readings
//! accepted as soon as the binding is on chain, however long ingest caches
//! the chain's other answers (here 60 s).

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_ledger::proto::{action::Kind, BindDevice, Reading};
use ehr_testkit::stack::*;

#[test]
fn a_device_bound_just_after_its_first_reading_is_accepted_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let _ingest = Ingest::start_caching(dir.path(), &broker, &db, &chain, &cast.ingest, 60);
    let early = key("device early-1");
    let reading = |seq| Reading {
        device_id: "early-1".into(),
        ..heart_rate(seq, 70.0)
    };

    // Before the binding: refused, rightly.
    broker.publish(&[sign(&reading(1), &early)]);
    wait_for(
        "the unbound reading refused",
        Duration::from_secs(60),
        || db.count("SELECT count(*) FROM ingest.rejects WHERE reason = 'unknown_device'") == 1,
    );
    chain.send(
        &cast.alice,
        Kind::BindDevice(BindDevice {
            device_id: "early-1".into(),
            public_key: early.public_key().to_bytes().to_vec(),
            patient: cast.alice.address().0.to_vec(),
        }),
    );
    // Bound: the next reading is stored, not refused from a remembered answer.
    broker.publish(&[sign(&reading(2), &early)]);
    let handled = wait_until(Duration::from_secs(30), || {
        db.count("SELECT count(*) FROM ingest.stored_records WHERE device_id = 'early-1'") == 1
            || db.count("SELECT count(*) FROM ingest.rejects") > 1
    });
    assert!(handled, "{}", log_tail(dir.path(), 40));
    assert_eq!(
        db.count("SELECT count(*) FROM ingest.stored_records WHERE device_id = 'early-1'"),
        1,
        "refused: {}",
        log_tail(dir.path(), 10)
    );
}
