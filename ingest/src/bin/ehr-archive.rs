//! ehr-archive: the database's owner moves whole days of stored readings out
//! of PostgreSQL (docs/ingest.md, "Partitions and retention"). Each day is
//! written as JSON lines, every record proven against its batch's root, the
//! file's SHA-256 kept in `ingest.record_days`; then its partition is
//! detached and dropped. `ehr verify-archive <file>` proves the lines
//! against the chain.
//!
//!   ehr-archive --database-url-file /secrets/owner.url --out /archive --before 2026-01-01
//!   ehr-archive --database-url-file /secrets/owner.url --out /archive --day 2025-12-03

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ehr_ingest::archive;

#[derive(Parser)]
#[command(
    name = "ehr-archive",
    version,
    about = "Archives whole days of stored readings, proven, then drops them from PostgreSQL"
)]
struct Args {
    /// The owner's URL (TLS as its sslmode asks); or --database-url-file.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A file holding the owner's URL.
    #[arg(long, conflicts_with = "database_url")]
    database_url_file: Option<PathBuf>,
    /// The folder the archives are written to (made if missing).
    #[arg(long)]
    out: PathBuf,
    /// Archive this day (YYYY-MM-DD, UTC), which may receive no more readings.
    #[arg(long, required_unless_present = "before", conflicts_with = "before")]
    day: Vec<String>,
    /// Archive every day before this one (YYYY-MM-DD) that may receive no more readings.
    #[arg(long)]
    before: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ehr-archive: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let url = ehr_migrations::owner_url(
        args.database_url.as_deref(),
        args.database_url_file.as_deref(),
    )?;
    for day in args.day.iter().chain(&args.before) {
        if day_shaped(day).is_none() {
            return Err(format!("{day} is not a day (YYYY-MM-DD)"));
        }
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let mut db = ehr_migrations::connect(&url).map_err(|e| e.to_string())?;
    let days = match &args.before {
        Some(before) => archive::archivable_days(&mut db, before).map_err(|e| e.to_string())?,
        None => args.day.clone(),
    };
    if days.is_empty() {
        println!("ehr-archive: no day to archive");
    }
    for day in &days {
        let done = archive::archive_day(&mut db, day, &args.out).map_err(|e| e.to_string())?;
        println!(
            "ehr-archive: {} archived: {} record(s) in {}, sha256 {}",
            done.day,
            done.records,
            done.file.display(),
            hex::encode(done.sha256)
        );
    }
    Ok(())
}

/// `YYYY-MM-DD` with a month and a day in range (PostgreSQL checks the rest).
fn day_shaped(day: &str) -> Option<()> {
    let mut parts = day.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = parts.next().is_none()
        && y.len() == 4
        && m.len() == 2
        && d.len() == 2
        && y.parse::<u16>().is_ok()
        && m.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
        && d.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d));
    ok.then_some(())
}
