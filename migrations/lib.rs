//! The PostgreSQL schema of ehr-ledger's off-chain side, owned in one place:
//! the diesel migrations beside this file (one folder each), embedded in the
//! binaries that apply them; the database URLs the services and tests use;
//! the least-privilege log-in per service; and a database of its own for each
//! test (`TestDatabase`).

use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

mod test_database;

pub use test_database::TestDatabase;

/// Every folder beside this file with an `up.sql` (files are not migrations).
const MIGRATIONS: EmbeddedMigrations = embed_migrations!(".");

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("PostgreSQL: {}", db_message(.0))]
    Db(#[from] postgres::Error),
    #[error("migrations: {0}")]
    Invalid(String),
}

/// PostgreSQL's own words for an error (message and SQLSTATE), which the
/// client's display ("db error") leaves out. Not its detail: for a refused row
/// that is "Failing row contains (…)", the row's values, which must not reach
/// logs or the rejects table.
pub fn db_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let source = std::error::Error::source(e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("{e}{source}")
        }
    }
}

/// The database the services and tests use when `DATABASE_URL` is not set:
/// the local server `scripts/setup.sh` starts (Debian asks TCP clients for a
/// password; setup gives the postgres role this one). Setup also makes that
/// server refuse plaintext: scripts/test.sh and scripts/run.sh set
/// `DATABASE_URL` to this URL with `sslmode=verify-full` and the authority
/// setup made (scripts/database-url.sh).
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/// A blocking connection with the TLS the URL's `sslmode` asks for
/// (`ehr_transport::postgres`).
pub fn connect(url: &str) -> Result<postgres::Client, SchemaError> {
    use ehr_transport::postgres::{connect_blocking, PgConnectError};
    connect_blocking(url).map_err(|e| match e {
        PgConnectError::Connect(e) => SchemaError::Db(e),
        PgConnectError::Url(e) => SchemaError::Invalid(e.to_string()),
    })
}

/// The advisory lock `ingest.close_record_day` holds while it rewrites a
/// day: whatever changes readings in place (an erasure, shared; the archive
/// of a day, alone) takes it too, so that nothing written to a day while it
/// is copied is left behind.
pub const CLOSING_LOCK: i64 = 0x4548_5203;

/// How many days old a day of readings must be, at least, to be closed: a
/// reading up to 30 days late is accepted, so the 31 days before today may
/// still receive one. `ingest.close_record_day` and
/// `analytics.close_value_day` hold to the same rule.
pub const CLOSED_AFTER_DAYS: i32 = 32;

/// The advisory lock (session-wide) a run of [`rebuild_finished_days`]
/// holds: one run at a time.
pub const REBUILDING_LOCK: i64 = 0x4548_5204;

/// A day closed by [`close_days`], with the readings and the analysts'
/// values it held (0 for a part closed before). `values` is `None` when
/// analysts' queries held the day's values for longer than the closing
/// waits (10 s): they are left for the next run.
#[derive(Debug)]
pub struct ClosedDay {
    pub day: String,
    pub readings: i64,
    pub values: Option<i64>,
}

/// Closes, as the database's owner, every day more than 31 days old whose
/// readings or analysts' values are not closed yet, oldest first: its
/// readings (unless archived; `ingest.close_record_day`: rewritten sorted
/// and packed, a BRIN in place of its keys, refusing new readings), then its
/// values (`analytics.close_value_day`: packed by pseudonym, code and hour),
/// each in transactions of its own. A day's values held by analysts' queries
/// beyond the closing's wait are left for the next run, and the run goes on.
/// A day that fails otherwise stops the run, and the days closed before it
/// (each passed to `closed` as it is) stay closed. Returns how many were
/// closed.
pub fn close_days(
    database_url: &str,
    mut closed: impl FnMut(&ClosedDay),
) -> Result<usize, SchemaError> {
    let mut c = connect(database_url)?;
    let days: Vec<(String, bool)> = c
        .query(
            "SELECT day::text, closed_at IS NULL AND archived_at IS NULL FROM ingest.record_days
             WHERE (closed_at IS NULL AND archived_at IS NULL OR values_closed_at IS NULL)
               AND day <= (now() AT TIME ZONE 'UTC')::date - $1::int
             ORDER BY day",
            &[&CLOSED_AFTER_DAYS],
        )?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (day, readings_open) in &days {
        let readings = if *readings_open {
            c.query_one("CALL ingest.close_record_day($1::text::date, NULL)", &[day])
                .map_err(|e| {
                    SchemaError::Invalid(format!(
                        "{day}: its readings are not closed: {}",
                        db_message(&e)
                    ))
                })?
                .get(0)
        } else {
            0
        };
        let values = match c.query_one(
            "CALL analytics.close_value_day($1::text::date, NULL)",
            &[day],
        ) {
            Ok(row) => Some(row.get(0)),
            Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => None,
            Err(e) => {
                return Err(SchemaError::Invalid(format!(
                    "{day}: its {readings} readings are closed, its analysts' values not: {}",
                    db_message(&e)
                )))
            }
        };
        closed(&ClosedDay {
            day: day.clone(),
            readings,
            values,
        });
    }
    Ok(days.len())
}

/// A finished day whose keys [`rebuild_finished_days`] rebuilt, with their
/// bytes before and after.
#[derive(Debug)]
pub struct RebuiltDay {
    pub day: String,
    pub before: i64,
    pub after: i64,
}

/// Rebuilds, as the database's owner, the keys of every day that is over
/// but not yet closed (from yesterday back to the oldest day still open),
/// once each, oldest first: [`rebuild_day_keys`]. Each is passed to
/// `rebuilt`; returns how many. A day that fails is named in the error
/// returned once every day was tried (the next run takes it again); a day
/// whose partition is gone is not tried.
pub fn rebuild_finished_days(
    database_url: &str,
    mut rebuilt: impl FnMut(&RebuiltDay),
) -> Result<usize, SchemaError> {
    let mut c = connect(database_url)?;
    // One run at a time: a second would take the first's index in the
    // making for one left half done. A rebuild waits at most a minute for
    // each lock or older transaction it must wait for (a long analysts'
    // query, a backup), then fails, and the next run takes the day again.
    let alone: bool = c
        .query_one("SELECT pg_try_advisory_lock($1)", &[&REBUILDING_LOCK])?
        .get(0);
    if !alone {
        return Err(SchemaError::Invalid(
            "another run is rebuilding days' keys; none rebuilt by this one".into(),
        ));
    }
    c.batch_execute("SET lock_timeout = '60s'")?;
    let days: Vec<String> = c
        .query(
            "SELECT day::text FROM ingest.record_days
             WHERE closed_at IS NULL AND archived_at IS NULL AND keys_rebuilt_at IS NULL
               AND to_regclass(format('ingest.%I', 'records_' || to_char(day, 'YYYYMMDD'))) IS NOT NULL
               AND day < (now() AT TIME ZONE 'UTC')::date
               AND day > (now() AT TIME ZONE 'UTC')::date - $1::int
             ORDER BY day",
            &[&CLOSED_AFTER_DAYS],
        )?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    // A day that fails holds up none after it: each is tried, and every
    // failure reported.
    let mut failed = vec![];
    for day in &days {
        match rebuild_day_keys(&mut c, day) {
            Ok(done) => rebuilt(&done),
            Err(e) => failed.push(format!("the keys of {day}: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(days.len())
    } else {
        Err(SchemaError::Invalid(failed.join("; ")))
    }
}

/// Rebuilds the keys of day `day`'s readings (`REINDEX CONCURRENTLY`: ingest
/// writes on meanwhile, late readings included) and marks the day rebuilt.
/// Written a pair's run at a time, a day's two B-trees split their pages
/// half full; rebuilt, they are full but for the tenth PostgreSQL leaves
/// free (docs/BENCHMARKS.md). What an earlier rebuild left half done (an
/// invalid index, when it failed or was stopped) is dropped first.
pub fn rebuild_day_keys(c: &mut postgres::Client, day: &str) -> Result<RebuiltDay, SchemaError> {
    let partition: String = c
        .query_one(
            "SELECT 'records_' || to_char($1::text::date, 'YYYYMMDD')",
            &[&day],
        )?
        .get(0);
    let size = |c: &mut postgres::Client| -> Result<i64, postgres::Error> {
        c.query_one(
            "SELECT pg_indexes_size(format('ingest.%I', $1::text)::regclass)",
            &[&partition],
        )
        .map(|r| r.get(0))
    };
    let before = size(c)?;
    let left: Vec<String> = c
        .query(
            "SELECT format('ingest.%I', x.relname) FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
             WHERE i.indrelid = format('ingest.%I', $1::text)::regclass AND NOT i.indisvalid",
            &[&partition],
        )?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    for index in left {
        c.batch_execute(&format!("DROP INDEX CONCURRENTLY {index}"))?;
    }
    c.batch_execute(&format!("REINDEX TABLE CONCURRENTLY ingest.{partition}"))?;
    c.execute(
        "UPDATE ingest.record_days SET keys_rebuilt_at = now() WHERE day = $1::text::date",
        &[&day],
    )?;
    Ok(RebuiltDay {
        day: day.to_string(),
        before,
        after: size(c)?,
    })
}

/// How many of a [`ClosedDay`]'s analysts' values were closed, in words.
pub fn values_closed(d: &ClosedDay) -> String {
    match d.values {
        Some(n) => format!("{n} analysts' values"),
        None => "its analysts' values left for the next run: analysts' queries held them".into(),
    }
}

/// The owner's URL as an operator's tool is given it: on the command line
/// (or `DATABASE_URL`), or in a file (a password stays off the command line).
pub fn owner_url(url: Option<&str>, file: Option<&std::path::Path>) -> Result<String, String> {
    match (url, file) {
        (_, Some(file)) => std::fs::read_to_string(file)
            .map(|u| u.trim().to_string())
            .map_err(|e| format!("cannot read {}: {e}", file.display())),
        (Some(url), None) => Ok(url.to_string()),
        (None, None) => Err("give DATABASE_URL or --database-url-file".into()),
    }
}

/// `DATABASE_URL`, else the local default.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into())
}

/// A PostgreSQL URL with its database replaced (its user, host and options kept).
pub fn with_database(url: &str, db: &str) -> String {
    // The options first: their values may hold slashes (sslrootcert=/etc/…).
    let (main, query) = url.split_once('?').map_or((url, ""), |(m, q)| (m, q));
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    match main.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}{query}"),
        None => url.to_string(),
    }
}

/// The database a URL names (`None` when it names none).
fn database_of(url: &str) -> Option<&str> {
    let main = url.split_once('?').map_or(url, |(m, _)| m);
    main.split_once("://")
        .map_or(main, |(_, rest)| rest)
        .split_once('/')
        .map(|(_, db)| db)
        .filter(|db| !db.is_empty())
}

/// A PostgreSQL URL with another login (user and password), host, database
/// and options kept.
pub fn with_login(url: &str, user: &str, password: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{user}:{password}@{host}")
        }
        None => url.to_string(),
    }
}

/// `url` with its password left out (`postgres://user@host/db`), to print or
/// write where others may read it.
pub fn without_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((login, host)) => {
                let user = login.split_once(':').map_or(login, |(user, _)| user);
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The statements that create (or re-key) a log-in user: the password goes
/// to the server as a SCRAM-SHA-256 verifier made here, never as text a
/// statement log or `pg_stat_statements` could keep.
fn login_sql(database: &str, service: &str, user: &str, password: &str) -> String {
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    format!(
        "DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{user}') THEN
                CREATE ROLE {user} LOGIN IN ROLE ehr_{service};
            END IF;
         END $$;
         ALTER ROLE {user} PASSWORD '{verifier}';
         GRANT CONNECT ON DATABASE {database} TO {user};"
    )
}

/// Log-in URLs for one database, one per service role, each with a password
/// made for the occasion (never one known in advance).
#[derive(Clone, Debug)]
pub struct Logins {
    pub ingest: String,
    pub gateway: String,
    pub analyst: String,
}

/// As the database's owner (`owner_url`, migrated): creates or re-keys the
/// log-in users `<database>_ingest`, `<database>_gateway` and
/// `<database>_analyst`, members of `ehr_ingest`, `ehr_gateway` and
/// `ehr_analyst`, and returns their URLs.
pub fn create_logins(owner_url: &str) -> Result<Logins, SchemaError> {
    let database = database_of(owner_url)
        .filter(|d| d.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .ok_or_else(|| {
            SchemaError::Invalid(format!(
                "{} names no database of letters, digits and _",
                without_password(owner_url)
            ))
        })?;
    let mut c = connect(owner_url)?;
    let mut login = |service: &str| -> Result<String, SchemaError> {
        let user = format!("{database}_{service}");
        let mut secret = [0u8; 18];
        getrandom::fill(&mut secret).map_err(|e| SchemaError::Invalid(e.to_string()))?;
        let password = hex::encode(secret);
        c.batch_execute(&login_sql(database, service, &user, &password))?;
        Ok(with_login(owner_url, &user, &password))
    };
    Ok(Logins {
        ingest: login("ingest")?,
        gateway: login("gateway")?,
        analyst: login("analyst")?,
    })
}

/// Refuses to go on when the database lacks migrations: a service logs in
/// with least privilege and cannot apply them; the database's owner does
/// (`--migrate`, or the main job).
pub fn require_migrated(database_url: &str) -> Result<(), SchemaError> {
    use diesel::migration::MigrationSource;
    let mut c = connect(database_url)?;
    let applied: Vec<String> = c
        .query("SELECT version FROM __diesel_schema_migrations", &[])
        .map_err(|e| {
            SchemaError::Invalid(format!(
                "the database has no migrations applied ({}): run this service once with --migrate as the database's owner",
                db_message(&e)
            ))
        })?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let embedded = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|e| SchemaError::Invalid(e.to_string()))?;
    let missing: Vec<String> = embedded
        .iter()
        .map(|m| m.name().version().to_string())
        .filter(|v| !applied.contains(v))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SchemaError::Invalid(format!(
            "the database lacks migrations {}: run this service once with --migrate as the database's owner",
            missing.join(", ")
        )))
    }
}

/// Applies the pending migrations of `migrations/` (idempotent).
pub fn migrate(database_url: &str) -> Result<(), SchemaError> {
    let mut conn = diesel::PgConnection::establish(database_url)
        .map_err(|e| SchemaError::Invalid(e.to_string()))?;
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| SchemaError::Invalid(e.to_string()))?;
    Ok(())
}

/// Applies the oldest pending migration only: what times one migration's
/// upgrade window (`ehr-storage-bench --time-migrations`).
pub fn apply_next(database_url: &str) -> Result<(), SchemaError> {
    let mut conn = diesel::PgConnection::establish(database_url)
        .map_err(|e| SchemaError::Invalid(e.to_string()))?;
    conn.run_next_migration(MIGRATIONS)
        .map_err(|e| SchemaError::Invalid(e.to_string()))?;
    Ok(())
}

/// Reverts the newest applied migration (its `down.sql`): an operator's
/// way back from a release, and how tests build a database of the layout
/// before it.
pub fn revert_last(database_url: &str) -> Result<(), SchemaError> {
    let mut conn = diesel::PgConnection::establish(database_url)
        .map_err(|e| SchemaError::Invalid(e.to_string()))?;
    conn.revert_last_migration(MIGRATIONS)
        .map_err(|e| SchemaError::Invalid(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_password_never_travels_as_text() {
        let sql = login_sql("ehr", "ingest", "ehr_ingest_login", "0123456789abcdef");
        assert!(!sql.contains("0123456789abcdef"), "{sql}");
        assert!(sql.contains("PASSWORD 'SCRAM-SHA-256$4096:"), "{sql}");
    }

    #[test]
    fn a_url_to_print_has_no_password() {
        assert_eq!(
            without_password("postgres://owner:s3cret@127.0.0.1:5432/ehr"),
            "postgres://owner@127.0.0.1:5432/ehr"
        );
        assert_eq!(
            without_password("postgres://127.0.0.1/ehr"),
            "postgres://127.0.0.1/ehr"
        );
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    const TLS_URL: &str =
        "postgres://u:p@db.example:5432/ehr?sslmode=verify-full&sslrootcert=/etc/ehr/ca.pem";

    #[test]
    fn the_database_is_replaced_and_tls_options_with_slashes_are_kept() {
        assert_eq!(
            with_database(TLS_URL, "ehr_test"),
            "postgres://u:p@db.example:5432/ehr_test?sslmode=verify-full&sslrootcert=/etc/ehr/ca.pem"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres", "x"),
            "postgres://u@h/x"
        );
        assert_eq!(database_of(TLS_URL), Some("ehr"));
        assert_eq!(database_of("postgres://u@h"), None);
        assert_eq!(
            with_login(TLS_URL, "ehr_ingest", "secret"),
            "postgres://ehr_ingest:secret@db.example:5432/ehr?sslmode=verify-full&sslrootcert=/etc/ehr/ca.pem"
        );
    }
}
