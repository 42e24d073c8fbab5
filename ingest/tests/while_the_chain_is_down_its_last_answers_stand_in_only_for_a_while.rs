//! While the chain cannot be reached, ingest uses the chain's last answers
//! (a device's binding, a patient's readers) — but only for a while: a device
//! revoked during a long outage must not be accepted for ever. Past the stale
//! limit, readings wait, unacknowledged; when the chain returns, they are
//! checked against it and stored.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_testkit::stack::*;

#[test]
fn past_the_stale_limit_readings_wait_for_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("chain");
    let mut chain = Chain::start(&home, 0);
    let port = chain.port;
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let _ingest = Ingest::start_with(
        dir.path(),
        &broker,
        &db,
        &chain,
        &cast.ingest,
        &["--stale-limit-seconds", "2"],
    );
    broker.publish(&[sign(&heart_rate(1, 70.0), &cast.hr)]);
    wait_for("the first reading stored", Duration::from_secs(60), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 1
    });

    chain.stop();
    // Longer than the limit since the device was last asked about.
    std::thread::sleep(Duration::from_secs(4));
    broker.publish(&[sign(&heart_rate(2, 71.0), &cast.hr)]);
    wait_for(
        "ingest saying it waits for the chain",
        Duration::from_secs(60),
        || log_tail(dir.path(), 200).contains("cannot process this poll yet"),
    );
    // Several polls later, still not stored (nor refused): it waits.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(db.count("SELECT count(*) FROM ingest.stored_records"), 1);
    assert_eq!(db.count("SELECT count(*) FROM ingest.rejects"), 0);

    let _chain = Chain::start(&home, port);
    wait_for(
        "the waiting reading stored once the chain answers",
        Duration::from_secs(120),
        || db.count("SELECT count(*) FROM ingest.stored_records") == 2,
    );
}
