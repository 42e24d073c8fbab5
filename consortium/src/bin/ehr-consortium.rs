//! ehr-consortium: the main job. Starts a local consortium of four hospitals
//! as real processes — the chain, the broker, ingest, the gateway, a fleet of
//! devices — tells a clinical story through it, shows live progress, and on
//! Ctrl-C or after `--duration` stops everything and sums up.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ehr_client::keyring::Keyring;
use ehr_client::rpc::RpcClient;
use ehr_consortium::broker::{self, READINGS};
use ehr_consortium::chain::{Chain, Engine};
use ehr_consortium::fleet::{self, Counters};
use ehr_consortium::progress::{self, Snapshot};
use ehr_consortium::services::{self, Gateway, Ingest};
use ehr_consortium::story::{Cast, Step, Teller};
use ehr_migrations::with_database;
use ehr_testkit::kafka::Kafka;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "ehr-consortium",
    version,
    about = "A local ehr-ledger consortium doing real work"
)]
struct Args {
    /// How long to run after the story, in seconds (0: until Ctrl-C).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// The run's folder: logs, chain data, keys. Emptied at start.
    #[arg(long, default_value = "target/consortium")]
    data: PathBuf,
    /// PostgreSQL server (its database is replaced by --database).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = ehr_migrations::DEFAULT_DATABASE_URL
    )]
    database_url: String,
    /// The run's database, dropped and created at start.
    #[arg(long, default_value = "ehr_consortium")]
    database: String,
    /// Patients, each with one device.
    #[arg(long, default_value_t = 12)]
    devices: usize,
    /// Readings per second from the whole fleet.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// The consensus engine: four CometBFT validators, or the dev sequencer
    /// for a quick look (one process, not Byzantine fault tolerant).
    #[arg(long, value_enum, default_value = "cometbft")]
    chain: Engine,
    #[command(subcommand)]
    attach: Option<AttachCommand>,
}

#[derive(clap::Subcommand)]
enum AttachCommand {
    /// Tell the story to a consortium already running (compose/) instead of
    /// starting one; --database-url is then its database, used as it is.
    Attach(Attach),
}

#[derive(clap::Args)]
struct Attach {
    /// RPC of one of its CometBFT nodes.
    #[arg(long)]
    node: String,
    /// Its Kafka brokers.
    #[arg(long)]
    brokers: String,
    /// Its record gateway.
    #[arg(long)]
    gateway: String,
    /// A folder holding each hospital's admin keyring as <hospital>/keys/admin-<hospital>.json
    /// (compose mounts each hospital's own admin volume there, read-only).
    #[arg(long)]
    admins: PathBuf,
    /// The key file its ingest service runs with.
    #[arg(long)]
    ingest_key_file: PathBuf,
    /// The key file its gateway runs with.
    #[arg(long)]
    gateway_key_file: PathBuf,
    /// Its genesis file, the trust root for checking block headers.
    #[arg(long)]
    genesis: Option<PathBuf>,
}

#[derive(Serialize)]
struct Summary {
    consensus: String,
    broker: String,
    rpc: String,
    gateway: String,
    database_url: String,
    steps: Vec<Step>,
    readings_published: u64,
    misbehaving_published: u64,
    progress: Snapshot,
    batches_checked_on_chain: u64,
    ward_rounds: Ward,
    analyst: Analyst,
    clean_shutdown: bool,
}

/// What the analyst sees, and is refused.
#[derive(Clone, Debug, Default, Serialize)]
struct Analyst {
    /// (LOINC, readings, mean value)
    by_code: Vec<(String, i64, f64)>,
    /// PostgreSQL's refusal of `SELECT … FROM ingest.records`; None if allowed.
    records_refused: Option<String>,
}

/// The doctor's reads while the consortium runs.
#[derive(Clone, Debug, Default, Serialize)]
struct Ward {
    reads: usize,
    records: usize,
    verified: usize,
}

/// The thread publishing the fleet's readings.
type FleetThread = std::thread::JoinHandle<Result<(), String>>;

struct Running {
    chain: Option<Chain>,
    broker: Option<Kafka>,
    ingest: Option<Ingest>,
    gateway: Option<Gateway>,
    fleet: Option<(Arc<AtomicBool>, FleetThread)>,
}

fn main() {
    let args = Args::parse();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(ehr_client::service::shutdown_signal());
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
    let mut running = Running {
        chain: None,
        broker: None,
        ingest: None,
        gateway: None,
        fleet: None,
    };
    let code = match run(&args, &stop, &mut running) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("\nehr-consortium: {e}");
            2
        }
    };
    shutdown(&mut running);
    std::process::exit(code);
}

/// PostgreSQL's own message, which says what went wrong.
fn pg_error(e: &postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string())
}

fn fresh_database(args: &Args) -> Result<String, String> {
    if !args
        .database
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err("--database must be letters, digits and _".into());
    }
    let mut admin = postgres::Client::connect(&args.database_url, postgres::NoTls)
        .map_err(|e| format!("PostgreSQL at {} cannot be reached: {e}", args.database_url))?;
    for sql in [
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", args.database),
        format!("CREATE DATABASE {}", args.database),
    ] {
        admin
            .batch_execute(&sql)
            .map_err(|e| format!("cannot create database {}: {}", args.database, pg_error(&e)))?;
    }
    let url = with_database(&args.database_url, &args.database);
    ehr_migrations::migrate(&url).map_err(|e| format!("migrations: {e}"))?;
    run_logins(&url)?;
    Ok(url)
}

/// Where the consortium's parts answer.
struct Parts {
    rpc_url: String,
    brokers: String,
    consensus: &'static str,
    broker: String,
    genesis: Option<PathBuf>,
}

/// Starts the chain and the broker here, with a fresh database and fresh keys.
fn start_all(
    args: &Args,
    data: &std::path::Path,
    running: &mut Running,
) -> Result<(Parts, Cast, String), String> {
    let db_url = fresh_database(args)?;
    println!(
        "  PostgreSQL: database {} (migrations applied)",
        args.database
    );
    let cast = Cast::new(args.devices.max(2));
    let chain = running
        .chain
        .insert(Chain::start(data, &cast.admins, args.chain)?);
    println!("  chain: {}", chain.description);
    let consensus = if chain.dev {
        "the dev sequencer (one process, not BFT)"
    } else {
        "CometBFT v0.38, four validators"
    };
    let rpc_url = chain.rpc_url.clone();
    let broker = running.broker.insert(broker::start(data)?);
    println!(
        "  broker: Apache Kafka (KRaft, one node) at {}, topic {READINGS} with {} partitions",
        broker.address,
        broker::PARTITIONS
    );
    let parts = Parts {
        rpc_url,
        brokers: broker.address.clone(),
        consensus,
        broker: format!("Apache Kafka (KRaft) at {}", broker.address),
        genesis: Some(chain.genesis.clone()),
    };
    Ok((parts, cast, db_url))
}

/// Uses a consortium already running (compose/): its admins' keys, its
/// services' keys, its chain, broker, database and gateway.
fn attach(args: &Args, a: &Attach) -> Result<(Parts, Cast, String), String> {
    let keys = ehr_consortium::chain::HOSPITALS
        .iter()
        .map(|(id, _)| Keyring::new(&a.admins.join(id)).load(&format!("admin-{id}")))
        .collect::<Result<Vec<_>, _>>()?;
    ehr_migrations::migrate(&args.database_url).map_err(|e| format!("migrations: {e}"))?;
    run_logins(&args.database_url)?;
    let ingest = ehr_client::service::read_key_file(&a.ingest_key_file)?;
    let gateway = ehr_client::service::read_key_file(&a.gateway_key_file)?;
    let cast = Cast::with(keys, ingest, gateway, args.devices.max(2));
    println!(
        "  attached: chain {}, broker {}, gateway {}",
        a.node, a.brokers, a.gateway
    );
    let parts = Parts {
        rpc_url: a.node.clone(),
        brokers: a.brokers.clone(),
        consensus: "the consortium attached to",
        broker: format!("the consortium's Kafka at {}", a.brokers),
        genesis: a.genesis.clone(),
    };
    Ok((parts, cast, args.database_url.clone()))
}

fn height(rt: &tokio::runtime::Runtime, rpc: &RpcClient) -> u64 {
    rt.block_on(rpc.latest_height()).unwrap_or(0)
}

fn stopped(stop: &AtomicBool) -> Result<(), String> {
    if stop.load(Ordering::Relaxed) {
        Err("stopped before the story was over".into())
    } else {
        Ok(())
    }
}

fn run(args: &Args, stop: &Arc<AtomicBool>, running: &mut Running) -> Result<bool, String> {
    let started = Instant::now();
    let data = &args.data;
    let _ = std::fs::remove_dir_all(data);
    std::fs::create_dir_all(data).map_err(|e| format!("{}: {e}", data.display()))?;
    let data = data.canonicalize().map_err(|e| e.to_string())?;
    println!(
        "ehr-ledger: a local consortium of four hospitals (data and logs in {})",
        data.display()
    );
    let (parts, cast, db_url) = match &args.attach {
        None => start_all(args, &data, running)?,
        Some(AttachCommand::Attach(a)) => attach(args, a)?,
    };
    let keys_home = data.join("ehr");
    cast.save(&Keyring::new(&keys_home))?;
    let Parts {
        rpc_url,
        brokers,
        consensus,
        broker: broker_description,
        genesis,
    } = parts;
    // Beside the keys, where `ehr` and the story's reads find their trust root.
    if let Some(g) = genesis {
        std::fs::copy(&g, keys_home.join("genesis.json"))
            .map_err(|e| format!("{}: {e}", g.display()))?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let rpc = RpcClient::new(&rpc_url);

    let mut teller = Teller::new(&rpc_url)?;
    teller.use_keys_home(&keys_home);
    teller.onboarding(&cast);
    stopped(stop)?;

    let gateway_url = match &args.attach {
        None => {
            let ingest = running.ingest.insert(services::start_ingest(
                &data,
                &brokers,
                &logins().ingest,
                &rpc_url,
                &cast.ingest,
            )?);
            println!(
                "\n  ingest: consuming {READINGS} — metrics at {}",
                ingest.metrics
            );
            let gateway = running.gateway.insert(services::start_gateway(
                &data,
                &logins().gateway,
                &rpc_url,
                &cast.gateway,
            )?);
            gateway.url.clone()
        }
        Some(AttachCommand::Attach(a)) => a.gateway.clone(),
    };
    println!("  gateway: {gateway_url}");
    teller.use_gateway(&gateway_url);

    let counters = Arc::new(Counters::default());
    let fleet_stop = Arc::new(AtomicBool::new(false));
    {
        let (stop, counters) = (fleet_stop.clone(), counters.clone());
        let devices = cast
            .devices
            .iter()
            .map(|d| fleet::Device {
                id: d.id.clone(),
                key: d.key.clone(),
                loinc: d.loinc,
            })
            .collect::<Vec<_>>();
        let rate = args.rate;
        let brokers = brokers.clone();
        let handle = std::thread::spawn(move || {
            fleet::run(&brokers, READINGS, &devices, rate, &stop, &counters)
        });
        running.fleet = Some((fleet_stop, handle));
    }
    println!(
        "  fleet: {} devices publishing {} signed readings/s (one in {} misbehaves on purpose)",
        cast.devices.len(),
        args.rate,
        fleet::BAD_EVERY
    );

    teller.clinic(&cast);
    stopped(stop)?;

    // The read path needs anchored readings of patient-1.
    let mut db = postgres::Client::connect(&db_url, postgres::NoTls).map_err(|e| e.to_string())?;
    let p1 = cast.patients[0].address().to_string();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let anchored: i64 = db
            .query_one(
                "SELECT count(*) FROM ingest.records r JOIN ingest.batches b USING (batch_id) WHERE r.patient = $1 AND b.status = 'committed'",
                &[&p1],
            )
            .map(|r| r.get(0))
            .unwrap_or(0);
        if anchored >= 3 {
            break;
        }
        stopped(stop)?;
        if Instant::now() > deadline {
            return Err(format!(
                "no reading of patient-1 was anchored within 90 s (see {})",
                data.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    teller.reads(&cast);
    let wait_logged = Instant::now() + Duration::from_secs(30);
    while Instant::now() < wait_logged {
        let open: i64 = db
            .query_one(
                "SELECT count(*) FROM gateway.disclosures WHERE status <> 'committed'",
                &[],
            )
            .map(|r| r.get(0))
            .unwrap_or(0);
        if open == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    teller.audit(&cast);

    let ehr = format!(
        "target/release/ehr --home {} --node {rpc_url} --gateway {gateway_url}",
        data.join("ehr").display()
    );
    let analyst_url = write_analyst_url(&data)?;
    println!(
        "\nThe story is told ({} steps, {} as expected) in {:.0} s. The consortium keeps working{}; meanwhile, in another terminal:\n  {ehr} fetch --as doctor --patient patient-1\n  {ehr} audit patient-1\n  psql \"$(cat {})\" -c 'SELECT loinc, count(*) FROM analytics.readings GROUP BY loinc'\n",
        teller.steps.len(),
        teller.steps.iter().filter(|s| s.ok).count(),
        started.elapsed().as_secs_f64(),
        if args.duration == 0 { " until Ctrl-C".to_string() } else { format!(" for {} s (Ctrl-C to stop sooner)", args.duration) },
        analyst_url.display(),
    );

    // Live progress.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let until = (args.duration > 0).then(|| Instant::now() + Duration::from_secs(args.duration));
    let mut before = progress::snapshot(&mut db, height(&rt, &rpc));
    let mut last = Instant::now();
    let mut round = 0usize;
    let mut ward = Ward::default();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    while !stop.load(Ordering::Relaxed) && until.is_none_or(|u| Instant::now() < u) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() < every {
            continue;
        }
        // A ward round: the doctor reads a patient's last minute of vitals
        // (patient-2 revoked the doctor's access; the others have not).
        round += 1;
        let still_granted: Vec<_> = cast
            .patients
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .collect();
        let patient = still_granted[round % still_granted.len()].1;
        let since = fleet::now_ms() / 1000 - 60;
        if let Ok(r) = teller.read(&cast.doctor, &patient.address(), Some(since)) {
            ward.records += r.records;
            ward.verified += r.anchored;
            ward.reads += 1;
        }
        let now = progress::snapshot(&mut db, height(&rt, &rpc));
        let line = progress::line(&now, &before, last.elapsed().as_secs_f64());
        if tty {
            print!("\r{line}");
            let _ = std::io::stdout().flush();
        } else {
            println!("{line}");
        }
        before = now;
        last = Instant::now();
        for (name, alive) in [
            (
                "ingest",
                running.ingest.as_mut().is_none_or(|i| i.proc.is_running()),
            ),
            (
                "gateway",
                running.gateway.as_mut().is_none_or(|g| g.proc.is_running()),
            ),
        ] {
            if !alive {
                return Err(format!(
                    "{name} stopped unexpectedly (see {}/{name}.log)",
                    data.display()
                ));
            }
        }
    }
    if tty {
        println!();
    }

    // Wind down: devices stop, ingest anchors what it stored.
    println!("\nstopping: the devices first, then ingest once its batches are anchored…");
    if let Some((flag, handle)) = running.fleet.take() {
        flag.store(true, Ordering::Relaxed);
        if let Ok(Err(e)) = handle.join() {
            eprintln!("  the fleet: {e}");
        }
    }
    let drain = Instant::now() + Duration::from_secs(20);
    // Ingest has caught up when nothing is pending and the count stands still.
    let mut previous = -1;
    while Instant::now() < drain {
        let s = progress::snapshot(&mut db, 0);
        if s.batches_pending == 0 && s.records == previous {
            break;
        }
        previous = s.records;
        std::thread::sleep(Duration::from_millis(500));
    }
    let checked = check_batches_on_chain(&rt, &rpc, &mut db, &cast)?;
    let final_snapshot = progress::snapshot(&mut db, height(&rt, &rpc));
    let clean = shutdown(running);

    let analyst = analyst_query();
    let summary = Summary {
        consensus: consensus.into(),
        broker: broker_description,
        rpc: rpc_url.clone(),
        gateway: gateway_url.clone(),
        database_url: db_url.clone(),
        steps: teller.steps.clone(),
        readings_published: counters.published.load(Ordering::Relaxed),
        misbehaving_published: counters.bad.load(Ordering::Relaxed),
        progress: final_snapshot.clone(),
        batches_checked_on_chain: checked,
        ward_rounds: ward.clone(),
        analyst: analyst.clone().unwrap_or_default(),
        clean_shutdown: clean,
    };
    std::fs::write(
        data.join("summary.json"),
        serde_json::to_vec_pretty(&summary).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    print_summary(&summary, &data, &analyst);
    Ok(teller.all_ok() && clean && checked > 0)
}

/// Every committed batch's root, compared with the anchor on chain.
fn check_batches_on_chain(
    rt: &tokio::runtime::Runtime,
    rpc: &RpcClient,
    db: &mut postgres::Client,
    cast: &Cast,
) -> Result<u64, String> {
    let rows = db
        .query("SELECT batch_id, merkle_root FROM ingest.batches WHERE status = 'committed' ORDER BY batch_id", &[])
        .map_err(|e| e.to_string())?;
    let service = cast.ingest.address();
    let mut checked = 0;
    for r in rows {
        let id: i64 = r.get(0);
        let root: Vec<u8> = r.get(1);
        let on_chain: Option<ehr_ledger::proto::StoredBatchAnchor> = rt
            .block_on(rpc.query(&format!("/batch/{service}/{id}")))
            .map_err(|e| e.to_string())?;
        match on_chain {
            Some(a) if a.merkle_root == root => checked += 1,
            _ => {
                return Err(format!(
                    "batch {id} is committed in PostgreSQL but its root is not on chain"
                ))
            }
        }
    }
    Ok(checked)
}

/// This run's log-ins, one per service role (least privilege) and one for
/// the demo analyst, each with a password made for the run.
static LOGINS: std::sync::OnceLock<ehr_migrations::Logins> = std::sync::OnceLock::new();

/// Creates (or re-keys) the run's log-ins for the database at `db_url` (as
/// its owner).
fn run_logins(db_url: &str) -> Result<(), String> {
    let logins = ehr_migrations::create_logins(db_url)
        .map_err(|e| format!("cannot create the services' log-ins: {e}"))?;
    let _ = LOGINS.set(logins);
    Ok(())
}

fn logins() -> ehr_migrations::Logins {
    LOGINS
        .get()
        .cloned()
        .expect("log-ins are created with the database")
}

/// The analyst's log-in URL.
fn as_analyst() -> String {
    logins().analyst
}

/// Writes the analyst's database URL (with its password) to `analyst.url` in
/// the run folder, readable by its owner only; the terminal shows the file.
fn write_analyst_url(data: &std::path::Path) -> Result<PathBuf, String> {
    let path = data.join("analyst.url");
    ehr_client::service::write_private_file(&path, format!("{}\n", as_analyst()).as_bytes())?;
    Ok(path)
}

/// As the analyst: the de-identified readings by code, and PostgreSQL's answer
/// to a look at the encrypted records (which must be a refusal).
fn analyst_query() -> Result<Analyst, String> {
    let url = as_analyst();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).map_err(|e| e.to_string())?;
    let records_refused = match c.query("SELECT count(*) FROM ingest.records", &[]) {
        Ok(_) => None,
        Err(e) => Some(pg_error(&e)),
    };
    let rows = c
        .query("SELECT loinc, count(*), avg(value) FROM analytics.readings GROUP BY loinc ORDER BY loinc", &[])
        .map_err(|e| e.to_string())?;
    Ok(Analyst {
        by_code: rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        records_refused,
    })
}

/// Stops what runs, in order; true if every process stopped by itself.
fn shutdown(r: &mut Running) -> bool {
    let mut clean = true;
    if let Some((flag, handle)) = r.fleet.take() {
        flag.store(true, Ordering::Relaxed);
        let _ = handle.join();
    }
    if let Some(mut i) = r.ingest.take() {
        clean &= i.proc.stop(Duration::from_secs(20));
    }
    if let Some(mut g) = r.gateway.take() {
        clean &= g.proc.stop(Duration::from_secs(10));
    }
    if let Some(mut c) = r.chain.take() {
        c.stop();
    }
    if let Some(mut b) = r.broker.take() {
        b.stop(Duration::from_secs(15));
    }
    clean
}

fn print_summary(s: &Summary, data: &std::path::Path, analyst: &Result<Analyst, String>) {
    let p = &s.progress;
    let ok = s.steps.iter().filter(|x| x.ok).count();
    println!("\n══ Summary ══");
    println!("consensus       {} — {} blocks", s.consensus, p.height);
    println!("broker          {}", s.broker);
    println!(
        "story           {ok} of {} steps as expected{}",
        s.steps.len(),
        if ok == s.steps.len() {
            ""
        } else {
            " (see UNEXPECTED above)"
        }
    );
    for x in s.steps.iter().filter(|x| !x.ok) {
        println!(
            "                UNEXPECTED: {} — expected {}, got {}",
            x.title, x.expected, x.got
        );
    }
    println!(
        "devices         {} readings published ({} misbehaving on purpose)",
        s.readings_published, s.misbehaving_published
    );
    println!("ingest          {} readings stored encrypted, {} rejected with a reason, {} batches anchored ({} checked against the chain), {} pending", p.records, p.rejects, p.batches_committed, s.batches_checked_on_chain, p.batches_pending);
    println!(
        "read path       {} disclosures logged on chain; ward rounds: {} reads, {} records, {} verified against the chain",
        p.disclosures_logged, s.ward_rounds.reads, s.ward_rounds.records, s.ward_rounds.verified
    );
    match analyst {
        Ok(a) => {
            println!(
                "analytics       {} de-identified readings from research-consenting patients, as the analyst sees them:",
                p.analytics_rows
            );
            for (loinc, n, avg) in &a.by_code {
                let name = ehr_client::vitals::vital(loinc).map_or("", |v| v.name);
                println!("                  {loinc:<8} {name:<36} {n:>6} readings, mean {avg:.1}");
            }
            match &a.records_refused {
                Some(why) => println!("                the analyst asking for the encrypted records is refused: {why}"),
                None => println!("                WARNING: the analyst can read ingest.records"),
            }
        }
        Err(e) => println!("analytics       the analyst query failed: {e}"),
    }
    println!(
        "shutdown        {}",
        if s.clean_shutdown {
            "every process stopped cleanly"
        } else {
            "some process had to be killed (see the logs)"
        }
    );
    println!("\nWhere to look:");
    println!("  logs, chain data, keys   {}", data.display());
    println!(
        "  the summary as JSON      {}",
        data.join("summary.json").display()
    );
    println!(
        "  as the analyst           psql \"$(cat {})\"  (a password made for this run)",
        data.join("analyst.url").display()
    );
    println!("  the stored ciphertext    psql \"{}\" -c 'SELECT record_id, loinc, batch_id, length(ciphertext) FROM ingest.records LIMIT 5'", s.database_url);
    println!("  fetch and verify         run `scripts/run.sh --duration 0` and, while it runs, in another terminal:");
    println!("                             target/release/ehr --home {} --node <rpc> --gateway <gateway> fetch --as doctor --patient patient-1", data.join("ehr").display());
    println!(
        "                             target/release/ehr --home {} --node <rpc> audit patient-1",
        data.join("ehr").display()
    );
    println!(
        "                           (<rpc> and <gateway> as printed at the start: {} and {})",
        s.rpc, s.gateway
    );
    println!("  docs                     README.md, docs/node.md, docs/ingest.md, docs/gateway.md");
}
