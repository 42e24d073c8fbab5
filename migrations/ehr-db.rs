//! ehr-db: the database's owner prepares it for the services, once per
//! release — the migrations applied, and a least-privilege log-in per service
//! (`ehr_ingest`, `ehr_gateway`, `ehr_analyst` roles) with a password made on
//! the spot, each written as a connection URL to a file only its owner reads.
//! The services then never log in as the owner.
//!
//!   DATABASE_URL=postgres://owner@db/ehr?sslmode=verify-full&sslrootcert=ca.pem ehr-db setup --out /secrets
//!   ehr-db setup --database-url-file /secrets/owner.url --out /secrets
//!   ehr-db close-days --database-url-file /secrets/owner.url   # daily

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ehr-db",
    version,
    about = "Prepares ehr-ledger's PostgreSQL database as its owner"
)]
struct Args {
    /// The owner's URL (TLS as its sslmode asks); or --database-url-file.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A file holding the owner's URL (a password stays off the command line).
    #[arg(long, conflicts_with = "database_url")]
    database_url_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the pending migrations.
    Migrate,
    /// Apply the migrations and write <out>/{ingest,gateway,analyst}.url, each
    /// a log-in of that service with a password made on the spot; logins whose
    /// files are all there already are kept (the running services use them).
    Setup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Close every day more than 31 days old (run it daily, after midnight
    /// UTC): its readings are rewritten sorted by patient and device, packed,
    /// their two B-trees replaced by one BRIN, and the day refuses new
    /// readings; its analysts' values are packed by pseudonym, code and hour.
    /// Then the keys of each day that is over but still open are rebuilt,
    /// once, their pages full rather than half.
    CloseDays,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ehr-db: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let url = ehr_migrations::owner_url(
        args.database_url.as_deref(),
        args.database_url_file.as_deref(),
    )?;
    if let Command::CloseDays = &args.command {
        let closed = ehr_migrations::close_days(&url, |d| {
            println!(
                "ehr-db: closed {} ({} readings, {})",
                d.day,
                d.readings,
                ehr_migrations::values_closed(d)
            )
        });
        if closed.as_ref().is_ok_and(|n| *n == 0) {
            println!("ehr-db: no day to close");
        }
        // Then the finished days' keys, whether or not a closing failed: a
        // rebuild holds up no closing, and a closing none.
        let rebuilt = ehr_migrations::rebuild_finished_days(&url, |d| {
            println!(
                "ehr-db: rebuilt the keys of {} ({:.1} → {:.1} MiB)",
                d.day,
                d.before as f64 / 1048576.0,
                d.after as f64 / 1048576.0
            )
        });
        let mut failed = vec![];
        if let Err(e) = closed {
            failed.push(format!(
                "closing: {e} (the days listed as closed stay so; run it again)"
            ));
        }
        if let Err(e) = rebuilt {
            failed.push(format!(
                "rebuilding a finished day's keys: {e} (the days listed as rebuilt stay so; run it again)"
            ));
        }
        return if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("\nehr-db: "))
        };
    }
    ehr_migrations::migrate(&url).map_err(|e| e.to_string())?;
    if let Command::Setup { out } = &args.command {
        let services = ["ingest", "gateway", "analyst"];
        if services
            .iter()
            .all(|s| out.join(format!("{s}.url")).is_file())
        {
            println!("ehr-db: the logins in {} are kept", out.display());
            return Ok(());
        }
        let logins = ehr_migrations::create_logins(&url).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        for (service, login) in [
            ("ingest", &logins.ingest),
            ("gateway", &logins.gateway),
            ("analyst", &logins.analyst),
        ] {
            let file = out.join(format!("{service}.url"));
            ehr_transport::write_private(&file, login.as_bytes())
                .map_err(|e| format!("{}: {e}", file.display()))?;
            println!("ehr-db: {service}'s log-in in {}", file.display());
        }
    }
    Ok(())
}
