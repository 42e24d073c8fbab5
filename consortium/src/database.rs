//! The run's own PostgreSQL database, made afresh and migrated, with a
//! least-privilege log-in per service and one for the demo analyst, each
//! with a password made for the run.

use ehr_migrations::{create_logins, migrate, with_database, Logins};

use crate::Error;

/// The run's database and its log-ins.
pub struct Database {
    /// The owner's URL.
    pub url: String,
    pub logins: Logins,
}

impl Database {
    /// Drops and creates `name` on the server of `admin_url`, migrates it
    /// and makes its log-ins.
    pub fn fresh(admin_url: &str, name: &str) -> Result<Database, Error> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Invalid(
                "--database must be letters, digits and _".into(),
            ));
        }
        let mut admin = ehr_migrations::connect(admin_url)?;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Self::existing(&with_database(admin_url, name))
    }

    /// A database that exists (the consortium's, when attached): migrated
    /// as its owner, with the run's log-ins.
    pub fn existing(url: &str) -> Result<Database, Error> {
        migrate(url)?;
        Ok(Database {
            url: url.into(),
            logins: create_logins(url)?,
        })
    }

    /// Writes the analyst's URL (with its password) to `analyst.url` in
    /// `data`, readable by its owner only; the terminal shows the file.
    pub fn write_analyst_url(&self, data: &std::path::Path) -> Result<std::path::PathBuf, Error> {
        let path = data.join("analyst.url");
        ehr_client::service::write_private_file(
            &path,
            format!("{}\n", self.logins.analyst).as_bytes(),
        )?;
        Ok(path)
    }
}

/// A new connection in place of one the server closed (a restart): the
/// run's own looks at its database go on after PostgreSQL comes back.
pub fn reconnect_if_lost(db: &mut postgres::Client, url: &str) {
    if db.is_closed() {
        if let Ok(fresh) = ehr_migrations::connect(url) {
            *db = fresh;
        }
    }
}
