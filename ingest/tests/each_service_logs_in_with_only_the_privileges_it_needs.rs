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
             INSERT INTO ingest.data_keys (key_id) VALUES ('hr-1:1');
             INSERT INTO ingest.records (record_seq, key_no, pair_no, device_seq, content_hash,
                 category, loinc, measured_at, ciphertext, ciphertext_sha256, batch_id, leaf_index)
                 SELECT 1, (SELECT key_no FROM ingest.data_keys), pair_no, 1, '\\x00', 1, '8867-4',
                        now(), '\\x01', '\\x02', 1, 0
                 FROM ingest.patient_devices WHERE device_id = 'hr-1';",
        )
        .unwrap();

    // Nobody but the owner creates objects, in public or anywhere.
    for url in [&l.ingest, &l.gateway, &l.analyst] {
        refused(url, "CREATE TABLE public.t (x int)");
        refused(url, "CREATE TABLE ingest.t (x int)");
        refused(url, "DROP TABLE ingest.records");
        // Closing a day rewrites it: the owner's (ehr-db close-days).
        refused(url, "CALL ingest.close_record_day('2000-01-01')");
        refused(url, "CALL analytics.close_value_day('2000-01-01')");
        refused(
            url,
            "SELECT ingest.write_closed_day('records_history', 'records_copy')",
        );
        refused(
            url,
            "SELECT ingest.index_record_partition('records_history', true)",
        );
    }

    // Ingest writes what it writes, and deletes nothing.
    as_user(&l.ingest, "SELECT count(*) FROM ingest.records").unwrap();
    as_user(
        &l.ingest,
        "UPDATE ingest.counters SET next = next WHERE name = 'record_seq'",
    )
    .unwrap();
    // It adds analysts' readings (numbering their pseudonym and code) and
    // deletes them by pseudonym, code and hour; it never reads a value.
    as_user(
        &l.ingest,
        "INSERT INTO analytics.pseudonyms (pseudonym) VALUES ('x');
         INSERT INTO analytics.codes (loinc, unit) VALUES ('8867-4', '/min');
         INSERT INTO analytics.values (hour, value, pseudonym_no, code_no)
         SELECT date_trunc('hour', now()), 1, p.pseudonym_no, c.code_no
         FROM analytics.pseudonyms p, analytics.codes c",
    )
    .unwrap();
    as_user(
        &l.ingest,
        "DELETE FROM analytics.values WHERE pseudonym_no = 0 AND code_no = 0 AND hour < now()",
    )
    .unwrap();
    refused(&l.ingest, "SELECT value FROM analytics.values");
    // Closed hours too, whose values it cannot read either.
    as_user(
        &l.ingest,
        "DELETE FROM analytics.closed_hours WHERE pseudonym_no = 0 AND code_no = 0 AND hour < now()",
    )
    .unwrap();
    refused(&l.ingest, "SELECT hour_values FROM analytics.closed_hours");
    refused(
        &l.ingest,
        "INSERT INTO analytics.closed_hours (hour, pseudonym_no, code_no, value_count, hour_values)
         VALUES (now(), 1, 1, 1, '{1}')",
    );
    // A number, once given, is never changed or taken back: the service
    // remembers those it has seen.
    refused(&l.ingest, "UPDATE analytics.pseudonyms SET pseudonym = 'y'");
    refused(&l.ingest, "DELETE FROM analytics.pseudonyms");
    refused(&l.ingest, "UPDATE analytics.codes SET unit = 'y'");
    refused(&l.ingest, "DELETE FROM analytics.codes");
    refused(&l.ingest, "UPDATE analytics.values SET code_no = 0");
    refused(&l.ingest, "DELETE FROM ingest.records");
    refused(&l.ingest, "UPDATE ingest.records SET pair_no = 2");
    // It adds a (patient, device) pair with a reading, never changes one.
    as_user(&l.ingest, "SELECT ingest.pairs_of('p')").unwrap();
    refused(&l.ingest, "UPDATE ingest.patient_devices SET patient = 'q'");
    refused(&l.ingest, "DELETE FROM ingest.patient_devices");
    // It numbers a data key with its first reading, never renumbers one
    // (a reading would then name another key's wraps).
    as_user(
        &l.ingest,
        "INSERT INTO ingest.data_keys (key_id) VALUES ('k-new')",
    )
    .unwrap();
    refused(&l.ingest, "UPDATE ingest.data_keys SET key_id = 'k-other'");
    refused(&l.ingest, "DELETE FROM ingest.data_keys");
    refused(&l.ingest, "SELECT * FROM gateway.disclosures");
    refused(&l.ingest, "SELECT * FROM gateway.documents");

    // The gateway reads records and cannot alter them, nor its audit trail's past.
    as_user(&l.gateway, "SELECT count(*) FROM ingest.records").unwrap();
    refused(&l.gateway, "UPDATE ingest.records SET pair_no = 2");
    as_user(&l.gateway, "SELECT count(*) FROM ingest.data_keys").unwrap();
    refused(&l.gateway, "UPDATE ingest.data_keys SET key_id = 'k-other'");
    refused(&l.gateway, "DELETE FROM ingest.data_keys");
    refused(
        &l.gateway,
        "INSERT INTO ingest.data_keys (key_id) VALUES ('k-new')",
    );
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
    refused(&l.analyst, "SELECT * FROM ingest.data_keys");
    // She reads the view of the analysts' rows, not the numbered tables.
    refused(&l.analyst, "SELECT * FROM analytics.values");
    refused(&l.analyst, "SELECT * FROM analytics.closed_hours");
    refused(&l.analyst, "SELECT * FROM analytics.pseudonyms");
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
