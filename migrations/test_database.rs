//! A database of one test alone: created under a fresh name on the server of
//! `DATABASE_URL`, migrated by its owner, with the services' log-ins; dropped,
//! log-ins and all, when the test ends.

use crate::{create_logins, database_url, migrate, with_database, Logins, SchemaError};

pub struct TestDatabase {
    admin_url: String,
    pub name: String,
    /// The owner's URL (migrations, checks as the superuser).
    pub url: String,
    /// The least-privilege log-in of each service.
    pub logins: Logins,
}

impl TestDatabase {
    pub fn create() -> Result<TestDatabase, SchemaError> {
        Self::create_on(&database_url())
    }

    /// The same on the server whose superuser's URL is `admin_url`.
    pub fn create_on(admin_url: &str) -> Result<TestDatabase, SchemaError> {
        let admin_url = admin_url.to_string();
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).map_err(|e| SchemaError::Invalid(e.to_string()))?;
        let name = format!("ehr_test_{}", hex::encode(suffix));
        let mut c = crate::connect(&admin_url)?;
        c.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let url = with_database(&admin_url, &name);
        migrate(&url)?;
        let logins = create_logins(&url)?;
        Ok(TestDatabase {
            admin_url,
            name,
            url,
            logins,
        })
    }

    /// A connection as the owner.
    pub fn client(&self) -> Result<postgres::Client, SchemaError> {
        crate::connect(&self.url)
    }

    /// The one number `sql` answers, or -1 when it fails.
    pub fn count(&self, sql: &str) -> i64 {
        self.client()
            .ok()
            .and_then(|mut c| c.query_one(sql, &[]).ok())
            .map_or(-1, |r| r.get::<_, i64>(0))
    }

    /// The UTC day `back` days before today by the database's clock, as
    /// YYYY-MM-DD; panics when the database does not answer (a test's).
    pub fn utc_day(&self, back: i32) -> String {
        self.client()
            .and_then(|mut c| {
                Ok(c.query_one(
                    "SELECT to_char((now() AT TIME ZONE 'UTC')::date - $1::int, 'YYYY-MM-DD')",
                    &[&back],
                )?)
            })
            .expect("the test database answers")
            .get(0)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = crate::connect(&self.admin_url) {
            // Two statements: DROP DATABASE refuses to run in a transaction.
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
            let _ = c.batch_execute(&format!(
                "DROP ROLE IF EXISTS {0}_ingest, {0}_gateway, {0}_analyst",
                self.name
            ));
        }
    }
}
