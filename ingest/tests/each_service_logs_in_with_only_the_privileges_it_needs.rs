//! Least privilege in PostgreSQL: the migrations give each service its own
//! role, and a service logged in as a member of it can do its work — every
//! other test runs ingest and the gateway that way — and nothing else: no
//! object created anywhere, no record altered or deleted, no other service's
//! tables read; and nobody creates objects in schema public.

use ehr_testkit::stack::*;

/// PostgreSQL's answer to `sql` as `url`'s user: `Ok` or its message.
fn as_user(url: &str, sql: &str) -> Result<(), String> {
    let mut c = ehr_migrations::connect(url).map_err(|e| e.to_string())?;
    c.batch_execute(sql).map_err(|e| {
        e.as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_string())
    })
}

fn refused(url: &str, sql: &str) {
    match as_user(url, sql) {
        Ok(()) => panic!("allowed: {sql}"),
        Err(e) => assert!(
            e.contains("permission denied") || e.contains("must be owner"),
            "{sql}: {e}"
        ),
    }
}

#[test]
fn each_service_logs_in_with_only_the_privileges_it_needs() {
    let db = database();
    let l = &db.logins;
    // Owner's set-up: one batch, one record, one wrap.
    db.client().expect("the test database answers")
        .batch_execute(
            "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record, status)
                 VALUES (1, '\\x00', 1, 1, 1, 'committed');
             INSERT INTO ingest.patient_devices (patient, device_id) VALUES ('p', 'hr-1');
             INSERT INTO ingest.records (record_seq, key_id, pair_no, device_seq, content_sha256,
                 category, loinc, measured_at, ciphertext, ciphertext_sha256, batch_id, leaf_index)
                 SELECT 1, 'hr-1:1', pair_no, 1, '\\x00', 1, '8867-4', now(), '\\x01', '\\x02', 1, 0
                 FROM ingest.patient_devices WHERE device_id = 'hr-1';",
        )
        .unwrap();

    // Nobody but the owner creates objects, in public or anywhere.
    for url in [&l.ingest, &l.gateway, &l.analyst] {
        refused(url, "CREATE TABLE public.t (x int)");
        refused(url, "CREATE TABLE ingest.t (x int)");
        refused(url, "DROP TABLE ingest.records");
    }

    // Ingest writes what it writes, and deletes nothing.
    as_user(&l.ingest, "SELECT count(*) FROM ingest.records").unwrap();
    as_user(
        &l.ingest,
        "UPDATE ingest.counters SET next = next WHERE name = 'record_seq'",
    )
    .unwrap();
    as_user(
        &l.ingest,
        "INSERT INTO analytics.readings VALUES ('x', '8867-4', 1, '/min', now())",
    )
    .unwrap();
    refused(&l.ingest, "DELETE FROM ingest.records");
    refused(&l.ingest, "UPDATE ingest.records SET pair_no = 2");
    // It adds a (patient, device) pair with a reading, never changes one.
    as_user(&l.ingest, "SELECT ingest.pairs_of('p')").unwrap();
    refused(&l.ingest, "UPDATE ingest.patient_devices SET patient = 'q'");
    refused(&l.ingest, "DELETE FROM ingest.patient_devices");
    refused(&l.ingest, "SELECT * FROM gateway.disclosures");
    refused(&l.ingest, "SELECT * FROM gateway.documents");

    // The gateway reads records and cannot alter them, nor its audit trail's past.
    as_user(&l.gateway, "SELECT count(*) FROM ingest.records").unwrap();
    refused(&l.gateway, "UPDATE ingest.records SET pair_no = 2");
    as_user(&l.gateway, "SELECT ingest.pairs_of('p')").unwrap();
    refused(
        &l.gateway,
        "INSERT INTO ingest.patient_devices (patient, device_id) VALUES ('q', 'hr-1')",
    );
    refused(
        &l.gateway,
        "UPDATE ingest.patient_devices SET patient = 'q'",
    );
    refused(&l.gateway, "DELETE FROM ingest.records");
    refused(
        &l.gateway,
        "UPDATE ingest.batches SET merkle_root = '\\x01'",
    );
    refused(&l.gateway, "DELETE FROM gateway.disclosures");
    refused(&l.gateway, "DELETE FROM gateway.documents");
    refused(&l.gateway, "SELECT * FROM analytics.readings");
    refused(&l.gateway, "SELECT * FROM ingest.rejects");

    // The analyst reads analytics only.
    as_user(&l.analyst, "SELECT count(*) FROM analytics.readings").unwrap();
    refused(&l.analyst, "SELECT * FROM ingest.patient_devices");
    refused(&l.analyst, "SELECT ingest.pairs_of('p')");
    // The readings with their names spelled out are the owner's view.
    for url in [&l.ingest, &l.gateway, &l.analyst] {
        refused(url, "SELECT * FROM ingest.stored_records");
    }
    refused(&l.analyst, "SELECT * FROM ingest.records");
    refused(&l.analyst, "SELECT * FROM gateway.documents");
}

#[test]
fn a_service_without_the_owners_rights_does_not_migrate_and_says_so() {
    let admin = ehr_migrations::database_url();
    let name = format!("ehr_test_bare_{}", std::process::id());
    let mut c = ehr_migrations::connect(&admin).unwrap();
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = ehr_migrations::with_database(&admin, &name);
    let e = ehr_migrations::require_migrated(&url)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--migrate"), "{e}");
    ehr_migrations::migrate(&url).unwrap();
    ehr_migrations::require_migrated(&url).unwrap();
    c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();
}
