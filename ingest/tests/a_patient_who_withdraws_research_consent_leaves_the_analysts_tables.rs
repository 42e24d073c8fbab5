//! "Withdraw research consent" does what it says: when the chain records
//! alice's withdrawal, ingest deletes every de-identified reading of hers
//! from the analysts' tables, and writes none of her later readings there;
//! when she consents again, her new readings flow again (the old ones do not
//! come back). Bob, who never consented, never appears.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_testkit::actions::research_consent;
use ehr_testkit::stack::*;

#[test]
fn a_patient_who_withdraws_research_consent_leaves_the_analysts_tables() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let _ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);
    let mut analyst = ehr_migrations::connect(&db.logins.analyst).expect("the analyst connects");
    let mut rows = || -> i64 {
        analyst
            .query_one("SELECT count(*) FROM analytics.readings", &[])
            .unwrap()
            .get(0)
    };
    let publish = |seqs: std::ops::RangeInclusive<u64>| {
        let payloads: Vec<Vec<u8>> = seqs
            .flat_map(|s| {
                [
                    sign(&heart_rate(s, 70.0), &cast.hr),
                    sign(&spo2(s, 97.0), &cast.spo2),
                ]
            })
            .collect();
        broker.publish(&payloads);
    };
    let stored = |n: i64| {
        wait_for(&format!("{n} records"), Duration::from_secs(120), || {
            db.count("SELECT count(*) FROM ingest.stored_records") == n
        })
    };

    publish(1..=10);
    stored(20);
    assert_eq!(rows(), 10, "alice's ten readings, de-identified");

    chain.send(&cast.alice, research_consent(&cast.alice, false));
    let deleted = wait_until(Duration::from_secs(60), || rows() == 0);
    assert!(
        deleted,
        "alice's readings are still in the analysts' tables:\n{}",
        log_tail(dir.path(), 30)
    );
    publish(11..=15);
    stored(30);
    assert_eq!(rows(), 0, "nothing of hers is written after she withdrew");

    chain.send(&cast.alice, research_consent(&cast.alice, true));
    // Once the chain's newest state says she consents, her new readings flow.
    let mut next = 16;
    wait_for(
        "alice's readings flowing again after she consents",
        Duration::from_secs(60),
        || {
            publish(next..=next);
            next += 1;
            std::thread::sleep(Duration::from_millis(500));
            rows() > 0
        },
    );
}
