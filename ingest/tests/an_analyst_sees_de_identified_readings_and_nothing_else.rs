//! The analyst role, over a real connection: the de-identified readings of
//! research-consented patients, and nothing else — no records, keys,
//! identities, batches or rejects.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_testkit::stack::*;

#[test]
fn the_analyst_role_reads_analytics_only() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    let mut payloads: Vec<Vec<u8>> = (1..=20)
        .map(|s| sign(&heart_rate(s, 70.0), &cast.hr))
        .collect();
    payloads.extend((1..=20).map(|s| sign(&spo2(s, 97.0), &cast.spo2)));
    broker.publish(&payloads);
    let _ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);
    wait_for("40 records", Duration::from_secs(120), || {
        db.count("SELECT count(*) FROM ingest.stored_records") == 40
    });

    // The test database's log-in user in the analyst role.
    let mut analyst = ehr_migrations::connect(&db.logins.analyst).expect("the analyst connects");

    // Only alice consented to research: 20 rows, one pseudonym, no identity.
    let rows = analyst
        .query(
            "SELECT pseudonym, loinc, value, unit, hour FROM analytics.readings",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 20);
    let columns: Vec<String> = analyst
        .query("SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'analytics' AND table_name = 'readings'", &[])
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(columns.len(), 5, "{columns:?}");
    for c in &columns {
        assert!(
            !["patient", "device_id", "record_id", "ciphertext"].contains(&c.as_str()),
            "{columns:?}"
        );
    }

    for table in [
        "ingest.records",
        "ingest.wrapped_keys",
        "ingest.batches",
        "ingest.rejects",
        "ingest.counters",
    ] {
        let err = analyst
            .query(&format!("SELECT * FROM {table} LIMIT 1"), &[])
            .expect_err(table);
        assert!(
            message(&err).contains("permission denied"),
            "{table}: {}",
            message(&err)
        );
    }
    // What the view reads is numbered rows, which she may not change.
    for change in [
        "INSERT INTO analytics.values VALUES (now(), 1, 1, 1)",
        "DELETE FROM analytics.values",
        "UPDATE analytics.pseudonyms SET pseudonym = 'x'",
        "INSERT INTO analytics.codes (loinc, unit) VALUES ('y', 'z')",
    ] {
        let err = analyst.execute(change, &[]).expect_err("read only");
        assert!(
            message(&err).contains("permission denied"),
            "{change}: {}",
            message(&err)
        );
    }
    drop(analyst);
}

fn message(e: &postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string())
}
