//! ehr-consortium: the main job. Starts a local consortium of four hospitals
//! as real processes — the chain, the broker, ingest, the gateway, a fleet of
//! devices — tells a clinical story through it, shows live progress, and on
//! Ctrl-C or after `--duration` stops everything and sums up.
//!
//! This file is the order of things; each part is a module of the library.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use clap::Parser;
use ehr_client::keyring::Keyring;
use ehr_client::read_path::open::TrustRoot;
use ehr_client::rpc::RpcClient;
use ehr_consortium::broker::{self, READINGS};
use ehr_consortium::chain::{Chain, Engine};
use ehr_consortium::chaos::Chaos;
use ehr_consortium::checks;
use ehr_consortium::database::Database;
use ehr_consortium::fleet::{self, Counters};
use ehr_consortium::progress;
use ehr_consortium::running::{shutdown, Running};
use ehr_consortium::services;
use ehr_consortium::steady;
use ehr_consortium::story::{Cast, Teller};
use ehr_consortium::summary::ChaosAccount;
use ehr_consortium::summary::{self, Link, Summary};
use ehr_consortium::supervisor::Supervisor;
use ehr_testkit::ethereum::Geth;
use ehr_testkit::kafka::{BrokerSecurity, DEVICE_GATEWAY, INGEST};
use ehr_testkit::pki::Pki;
use ehr_testkit::postgres::Postgres;
use ehr_transport::kafka::KafkaSecurity;

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
    /// The built web portal, served by the gateway under /portal/ when it
    /// is there (scripts/run.sh builds it).
    #[arg(long, default_value = "portal/dist")]
    portal_dir: PathBuf,
    /// Run every link in plaintext, for a quick look on one machine: no
    /// certificates are made, and anyone on the path could read and change
    /// what passes. Without it every link runs TLS with a certificate
    /// authority made for the run (<data>/tls/ca.pem).
    #[arg(long)]
    insecure_plaintext: bool,
    /// Stop the run when any part dies, naming it; without it a part that
    /// died is restarted (with back-off, counted in the summary), as an
    /// operator's supervisor would.
    #[arg(long)]
    fail_fast: bool,
    /// While the consortium works, inject faults drawn from this seed: kill
    /// -9 or pause a validator's processes, kill a Kafka broker, ingest or
    /// the gateway, crash PostgreSQL (the run's own server), cut a hospital's
    /// site off, slow every link. The summary then proves from the data that
    /// nothing was lost or stored twice and the validators agree, and says
    /// how long each recovery took.
    #[arg(long, value_name = "SEED")]
    chaos: Option<u64>,
    /// Attached: the authority the consortium's certificates chain to.
    #[command(flatten)]
    tls: ehr_transport::ClientTlsArgs,
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
    /// How the story's device gateway logs in to its Kafka.
    #[command(flatten)]
    kafka: ehr_transport::kafka::KafkaArgs,
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
    let mut running = Running::default();
    let code = match run(&args, &stop, &mut running) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("\nehr-consortium: {e:#}");
            2
        }
    };
    shutdown(&mut running);
    std::process::exit(code);
}

/// Where the consortium's parts answer.
struct Parts {
    rpc_url: String,
    brokers: String,
    consensus: &'static str,
    broker: String,
    genesis: Option<PathBuf>,
    /// This run started the dev sequencer itself (and so trusts it).
    dev: bool,
    gateway: Option<String>,
    /// The run's certificate authority (None: plaintext, or attached).
    pki: Option<Arc<Pki>>,
    /// How the fleet's device gateway logs in to Kafka.
    device_gateway: KafkaSecurity,
    /// How ingest is told to log in to Kafka (started here only).
    ingest_kafka: Vec<std::ffi::OsString>,
    /// The authority `ehr` is told to trust.
    ca_file: Option<PathBuf>,
    /// The Ethereum node's JSON-RPC (`geth --dev`, started here only).
    ethereum: Option<String>,
}

/// Starts the chain and the broker here, with a fresh database and fresh keys.
fn start_all(
    args: &Args,
    data: &Path,
    running: &mut Running,
) -> anyhow::Result<(Parts, Cast, Database)> {
    let pki = if args.insecure_plaintext {
        println!("  TLS: OFF (--insecure-plaintext): every link in plaintext, for a look on this machine only");
        None
    } else {
        let pki = Pki::create(&data.join("tls"), "ehr-ledger local consortium")?;
        // The run's own clients show a certificate (ingest's metrics ask).
        ehr_transport::install(&pki.service("operator")?);
        println!(
            "  TLS: a certificate authority made for this run ({}); a certificate per service and hospital",
            pki.ca_file.display()
        );
        Some(Arc::new(pki))
    };
    // Chaos crashes PostgreSQL: the run's own server, not the machine's.
    let server_url = match (args.chaos, &pki) {
        (Some(_), Some(pki)) => {
            let server = running.postgres.insert(Postgres::start(pki)?);
            println!(
                "  PostgreSQL: a server of the run's own (--chaos restarts it), log in {}",
                server.log().display()
            );
            server.admin_url.clone()
        }
        _ => args.database_url.clone(),
    };
    let db = Database::fresh(&server_url, &args.database)?;
    println!(
        "  PostgreSQL: database {} (migrations applied)",
        args.database
    );
    let cast = Cast::new(args.devices.max(2));
    let chain = running
        .chain
        .insert(Chain::start(data, &cast.admins, args.chain, pki.as_ref())?);
    println!("  chain: {}", chain.description);
    let consensus = if chain.dev {
        "the dev sequencer (one process, not BFT)"
    } else {
        "CometBFT v0.38, four validators"
    };
    let rpc_url = chain.rpc_url.clone();
    // Under the dev sequencer there are no validators' signatures to check
    // from a genesis file: the services trust the sequencer this run started.
    let genesis = (!chain.dev).then(|| chain.genesis.clone());
    let broker = running.broker.insert(broker::start(
        data,
        match &pki {
            Some(pki) => BrokerSecurity::Scram(pki.clone()),
            None => BrokerSecurity::Plaintext,
        },
    )?);
    println!(
        "  broker: Apache Kafka, {} KRaft brokers at {}, topic {READINGS} with {} partitions, each on every broker, two in sync",
        broker::BROKERS,
        broker.address,
        broker::PARTITIONS
    );
    // The public chain the consortium checkpoints to: under CometBFT only
    // (a dev sequencer's app hashes are its own word, nothing to checkpoint).
    let ethereum = if chain.dev {
        None
    } else {
        let geth = running.ethereum.insert(Geth::start(data)?);
        println!(
            "  Ethereum: geth --dev at {}, the public chain the consortium checkpoints to",
            geth.url
        );
        Some(geth.url.clone())
    };
    let parts = Parts {
        rpc_url,
        brokers: broker.address.clone(),
        consensus,
        broker: format!(
            "Apache Kafka (KRaft), a cluster of {} brokers at {}",
            broker::BROKERS,
            broker.address
        ),
        genesis,
        dev: chain.dev,
        gateway: None,
        device_gateway: broker.security(DEVICE_GATEWAY),
        ingest_kafka: broker.login_args(INGEST),
        ca_file: pki.as_ref().map(|p| p.ca_file.clone()),
        pki,
        ethereum,
    };
    Ok((parts, cast, db))
}

/// Uses a consortium already running (compose/): its admins' keys, its
/// services' keys, its chain, broker, database and gateway.
fn attach(args: &Args, a: &Attach) -> anyhow::Result<(Parts, Cast, Database)> {
    ehr_transport::install(&ehr_transport::Transport::for_client(&args.tls)?);
    let keys = ehr_consortium::chain::HOSPITALS
        .iter()
        .map(|(id, _)| Keyring::new(&a.admins.join(id)).load(&format!("admin-{id}")))
        .collect::<Result<Vec<_>, _>>()?;
    let db = Database::existing(&args.database_url)?;
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
        dev: false,
        gateway: Some(a.gateway.clone()),
        pki: None,
        device_gateway: a.kafka.security(args.tls.ca_file.as_deref())?,
        ingest_kafka: vec![],
        ca_file: args.tls.ca_file.clone(),
        ethereum: None,
    };
    Ok((parts, cast, db))
}

fn stopped(stop: &AtomicBool) -> anyhow::Result<()> {
    if stop.load(Ordering::Relaxed) {
        Err(anyhow!("stopped before the story was over"))
    } else {
        Ok(())
    }
}

/// Waits, up to `limit`, until `done` holds; refuses when stopped or late.
fn wait_until(
    stop: &AtomicBool,
    limit: Duration,
    late: impl Fn() -> String,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        stopped(stop)?;
        if Instant::now() > deadline {
            return Err(anyhow!(late()));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

fn run(args: &Args, stop: &Arc<AtomicBool>, running: &mut Running) -> anyhow::Result<bool> {
    let started = Instant::now();
    let data = &args.data;
    let _ = std::fs::remove_dir_all(data);
    std::fs::create_dir_all(data).with_context(|| format!("{}", data.display()))?;
    let data = data.canonicalize()?;
    println!(
        "ehr-ledger: a local consortium of four hospitals (data and logs in {})",
        data.display()
    );
    if args.chaos.is_some()
        && (args.attach.is_some()
            || args.chain == Engine::Dev
            || args.insecure_plaintext
            || args.fail_fast)
    {
        return Err(anyhow!("--chaos runs on the consortium this run starts, on CometBFT, with TLS, its supervisor restarting what the faults kill: leave out attach, --chain dev, --insecure-plaintext and --fail-fast"));
    }
    let (parts, cast, database) = match &args.attach {
        None => start_all(args, &data, running)?,
        Some(AttachCommand::Attach(a)) => attach(args, a)?,
    };
    let keys_home = data.join("ehr");
    cast.save(&Keyring::new(&keys_home))?;
    // Beside the keys, where `ehr` and the story's reads find their trust
    // root; the dev sequencer is trusted because this run chose to run it.
    let trust = match &parts.genesis {
        Some(g) => {
            let file = keys_home.join("genesis.json");
            std::fs::copy(g, &file).with_context(|| format!("{}", g.display()))?;
            TrustRoot::Genesis {
                file,
                store_dir: Some(keys_home.clone()),
                checkpoint: None,
            }
        }
        // Attached without a genesis file: nothing is trusted, nothing
        // counts as verified.
        None if parts.dev => TrustRoot::DevSequencer,
        None => TrustRoot::None,
    };
    let mut teller = Teller::new(&parts.rpc_url)?;
    teller.use_trust(trust);
    teller.onboarding(&cast);
    stopped(stop)?;

    let gateway_url = start_services(args, &parts, &cast, &database, &data, running)?;
    teller.use_gateway(&gateway_url);
    let fhir = start_fhir(&parts, &gateway_url, &keys_home, &data, running)?;
    if let Some(f) = &fhir {
        teller.use_fhir(&f.base, f.client.clone());
    }
    let counters = start_fleet(args, &parts, &cast, running);

    teller.clinic(&cast);
    stopped(stop)?;
    let mut db = ehr_migrations::connect(&database.url)?;
    // The read path needs anchored readings of patient-1.
    let p1 = cast.patients[0].address().to_string();
    wait_until(
        stop,
        Duration::from_secs(90),
        || {
            format!(
                "no reading of patient-1 was anchored within 90 s (see {})",
                data.display()
            )
        },
        || progress::anchored_readings(&mut db, &p1) >= 3,
    )?;
    teller.reads(&cast);
    // The audit trail shows what is logged on chain: let the log catch up.
    let _ = wait_until(stop, Duration::from_secs(30), String::new, || {
        progress::disclosures_waiting(&mut db) == 0
    });
    teller.audit(&cast);
    let (brokers, kafka) = (parts.brokers.clone(), parts.device_gateway.clone());
    teller.code_directory(
        &cast,
        |reading, key| {
            fleet::publish_one(&brokers, &kafka, READINGS, reading, key)?;
            // Counted with the fleet's misbehaving readings: refused on purpose.
            for n in [&counters.published, &counters.acknowledged, &counters.bad] {
                n.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        },
        |device| {
            db.query_opt(
                "SELECT detail FROM ingest.rejects WHERE reason = 'retired_code' AND device_id = $1 LIMIT 1",
                &[&device],
            )
            .ok()
            .flatten()
            .map(|row| row.get(0))
        },
    );
    if let Some(url) = &parts.ethereum {
        teller.public_chain(&cast, url);
    }

    let ehr = format!(
        "target/release/ehr --home {} --node {} --gateway {gateway_url}{}{}",
        keys_home.display(),
        parts.rpc_url,
        match &parts.ca_file {
            Some(ca) => format!(" --ca-file {}", ca.display()),
            None => String::new(),
        },
        if parts.dev {
            " --trust-dev-sequencer"
        } else {
            ""
        }
    );
    let analyst_url = database.write_analyst_url(&data)?;
    println!(
        "\nThe story is told ({} steps, {} as expected) in {:.0} s. The consortium keeps working{}; meanwhile, in another terminal:\n  {ehr} fetch --as doctor --patient patient-1\n  {ehr} audit patient-1\n  psql \"$(cat {})\" -c 'SELECT loinc, count(*) FROM analytics.readings GROUP BY loinc'\n",
        teller.steps.len(),
        teller.steps.iter().filter(|s| s.ok).count(),
        started.elapsed().as_secs_f64(),
        if args.duration == 0 { " until Ctrl-C".to_string() } else { format!(" for {} s (Ctrl-C to stop sooner)", args.duration) },
        analyst_url.display(),
    );
    if let Some(f) = &fhir {
        println!(
            "  {}\n",
            f.example
                .replace("<address>", &cast.patients[0].address().to_string())
        );
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rpc = RpcClient::new(&parts.rpc_url);
    let mut supervisor = Supervisor::new(args.fail_fast);
    let mut chaos = args.chaos.map(|seed| {
        println!("  chaos: faults drawn from seed {seed}, one at a time, from a few seconds from now until {} s before the end", steady::QUIET_BEFORE_THE_END.as_secs());
        Chaos::new(seed, running)
    });
    let ward = steady::steady_work(
        args.duration,
        stop,
        running,
        &mut teller,
        &cast,
        &mut db,
        &rt,
        &rpc,
        &data,
        steady::Watch {
            supervisor: &mut supervisor,
            chaos: chaos.as_mut(),
            database_url: &database.url,
            gateway: &gateway_url,
        },
    )?;

    steady::wind_down(running, &mut db);
    let (mut all_checks, readings, gap) =
        final_checks(running, &rt, &rpc, &mut db, &database.url, &cast, &counters)?;
    let checked = all_checks.batches_checked;
    let final_snapshot = progress::snapshot(&mut db, progress::height(&rt, &rpc));
    // Before the shutdown: under --chaos the database's server is the run's.
    let analyst = summary::analyst_query(&database.logins.analyst);
    let clean = shutdown(running);
    let links = links(&parts, &database.url);
    let summary = Summary {
        consensus: parts.consensus.into(),
        broker: parts.broker,
        rpc: parts.rpc_url,
        gateway: gateway_url,
        // The owner's password stays in DATABASE_URL, out of files and the terminal.
        database_url: ehr_migrations::without_password(&database.url),
        steps: teller.steps.clone(),
        readings_published: counters.published.load(Ordering::Relaxed),
        misbehaving_published: counters.bad.load(Ordering::Relaxed),
        progress: final_snapshot,
        batches_checked_on_chain: checked,
        ward_rounds: ward,
        analyst: analyst.as_ref().cloned().unwrap_or_default(),
        clean_shutdown: clean,
        links,
        checks: std::mem::take(&mut all_checks.checks),
        readings,
        longest_block_gap: gap,
        restarts: supervisor.restarts.clone(),
        chaos: chaos.map(|c| ChaosAccount {
            seed: c.seed,
            faults: c.faults,
        }),
    };
    ehr_client::service::write_private_file(
        &data.join("summary.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    summary::print_summary(&summary, &data, &analyst);
    let proven = summary.checks.iter().all(|c| c.ok);
    Ok(teller.all_ok() && clean && checked > 0 && proven)
}

/// The checks the summary proves, with the batches found on chain.
struct FinalChecks {
    checks: Vec<checks::Check>,
    batches_checked: u64,
}

/// Once the devices have stopped: every acknowledged reading stored once
/// (ingest given two minutes to catch up after the last fault), every batch
/// anchored, the validators in agreement, every disclosure on chain.
fn final_checks(
    running: &Running,
    rt: &tokio::runtime::Runtime,
    rpc: &RpcClient,
    db: &mut postgres::Client,
    database_url: &str,
    cast: &Cast,
    counters: &Counters,
) -> anyhow::Result<(FinalChecks, checks::ReadingsAccount, checks::Gap)> {
    let catch_up = Duration::from_secs(120);
    let devices: Vec<String> = cast.devices.iter().map(|d| d.id.clone()).collect();
    let (readings_check, readings) =
        checks::readings_once(db, database_url, counters, &devices, catch_up)?;
    let deadline = Instant::now() + catch_up;
    while progress::snapshot(db, 0).batches_pending > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    let checked = summary::check_batches_on_chain(rt, rpc, db, cast).map_err(|e| e.to_string());
    let batches = checks::batches_anchored(db, &checked);
    let (validators, gap) = checks::chain(running, rt);
    let disclosures = checks::disclosures(db, database_url, Duration::from_secs(60));
    let consenting: Vec<String> = (0..cast.patients.len())
        .filter(|i| cast.consents_to_research(*i))
        .map(|i| cast.patients[i].address().to_string())
        .collect();
    let analytics = checks::analytics_once(db, &consenting);
    Ok((
        FinalChecks {
            checks: vec![readings_check, analytics, batches, validators, disclosures],
            batches_checked: checked.unwrap_or(0),
        },
        readings,
        gap,
    ))
}

/// Each link of the run and what protects it, as configured.
fn links(parts: &Parts, database_url: &str) -> Vec<Link> {
    let tls = |what: &str| match (&parts.pki, &parts.ca_file) {
        (Some(_), _) => format!("TLS, {what}, certificates of the run's authority"),
        (None, Some(_)) => format!("TLS, {what}, checked against --ca-file"),
        (None, None) => "PLAINTEXT (--insecure-plaintext)".into(),
    };
    vec![
        Link::new("clients → validators' RPC", tls("server authenticated")),
        Link::new("browsers, ehr → gateway", tls("server authenticated")),
        Link::new("monitoring → ingest metrics", tls("mutual")),
        Link::new(
            "a hospital's systems → its FHIR API",
            match &parts.pki {
                Some(_) => "TLS, mutual: a caller is known by its certificate and acts only for the clinicians configured for it".to_string(),
                None => "not started (--insecure-plaintext, or attached)".to_string(),
            },
        ),
        Link::new(
            "validator ↔ validator",
            "CometBFT's authenticated encryption (node keys in the peers' IDs)",
        ),
        Link::new("cometbft ↔ ehr-node", "a Unix socket inside each hospital"),
        Link::new(
            "devices, ingest → Kafka",
            if parts.device_gateway.encrypted() {
                "SASL/SCRAM-SHA-512 over TLS, a user per service and device gateway; ACLs: a device gateway may only write readings"
            } else {
                "PLAINTEXT, no login (--insecure-plaintext)"
            },
        ),
        Link::new(
            "services → PostgreSQL",
            match ehr_transport::postgres::parse(database_url) {
                Ok(c) if c.encrypted => {
                    "TLS as DATABASE_URL's sslmode asks, each service its own least-privilege login"
                }
                _ => "PLAINTEXT (DATABASE_URL asks for no sslmode)",
            },
        ),
    ]
}

/// Ingest and the gateway, each logging in with its own role; the gateway's
/// address (the consortium's own when attached).
/// General's FHIR API, what it serves at and how its EHR calls it.
struct FhirApi {
    base: String,
    client: reqwest::Client,
    /// A command line a person runs to ask it something.
    example: String,
}

/// Starts `ehr-fhir` for General (with TLS only: it knows its callers by
/// their certificates), acting for the doctor; None when attached or in
/// plaintext.
fn start_fhir(
    parts: &Parts,
    gateway: &str,
    keys: &Path,
    data: &Path,
    running: &mut Running,
) -> anyhow::Result<Option<FhirApi>> {
    let Some(pki) = parts.pki.as_deref().filter(|_| parts.gateway.is_none()) else {
        println!("  FHIR API: not started (it needs TLS and a gateway this run started)");
        return Ok(None);
    };
    let (service, caller) = services::start_fhir(
        data,
        gateway,
        &parts.rpc_url,
        parts.genesis.as_deref(),
        keys,
        pki,
    )?;
    let base = service.url.clone();
    running.fhir = Some(service);
    let client = ehr_transport::Transport::for_client(&ehr_transport::ClientTlsArgs {
        ca_file: Some(pki.ca_file.clone()),
        cert_file: Some(caller.certificate.clone()),
        key_file: Some(caller.key.clone()),
    })?
    .http(Duration::from_secs(60));
    let example = format!(
        "curl --cacert {} --cert {} --key {} -H 'accept: application/fhir+json' '{base}/Observation?patient=<address>&_count=5'",
        pki.ca_file.display(),
        caller.certificate.display(),
        caller.key.display()
    );
    println!(
        "  FHIR API: {base} — General's EHR calls it with the certificate {} (acting for the doctor)",
        caller.certificate.display()
    );
    Ok(Some(FhirApi {
        base,
        client,
        example,
    }))
}

fn start_services(
    args: &Args,
    parts: &Parts,
    cast: &Cast,
    database: &Database,
    data: &Path,
    running: &mut Running,
) -> anyhow::Result<String> {
    let url = match &parts.gateway {
        Some(url) => url.clone(),
        None => {
            let ingest = running.ingest.insert(services::start_ingest(
                data,
                &parts.brokers,
                &database.logins.ingest,
                &parts.rpc_url,
                parts.genesis.as_deref(),
                &cast.ingest,
                &services::IngestLinks {
                    pki: parts.pki.as_deref(),
                    kafka_login: &parts.ingest_kafka,
                },
            )?);
            println!(
                "\n  ingest: consuming {READINGS} — metrics at {}",
                ingest.metrics
            );
            // Absolute: the gateway runs in the run's folder, not here.
            let portal = args
                .portal_dir
                .join("index.html")
                .is_file()
                .then(|| args.portal_dir.canonicalize())
                .transpose()?;
            let gateway = running.gateway.insert(services::start_gateway(
                data,
                &database.logins.gateway,
                &parts.rpc_url,
                parts.genesis.as_deref(),
                &cast.gateway,
                portal.as_deref(),
                parts.pki.as_deref(),
            )?);
            let url = gateway.url.clone();
            match portal {
                Some(_) => println!(
                    "  portal: {url}/portal/ — log-in links of a demo patient and two doctors in {}",
                    services::write_portal_logins(data, &format!("{url}/portal/"), cast)?.display()
                ),
                None => println!(
                    "  portal: not built ({} is missing: npm ci && npm run build in portal/)",
                    args.portal_dir.display()
                ),
            }
            url
        }
    };
    println!("  gateway: {url}");
    Ok(url)
}

/// The device fleet on a thread of its own; its counters.
fn start_fleet(args: &Args, parts: &Parts, cast: &Cast, running: &mut Running) -> Arc<Counters> {
    let counters = Arc::new(Counters::default());
    let fleet_stop = Arc::new(AtomicBool::new(false));
    let (stop, shared) = (fleet_stop.clone(), counters.clone());
    let devices = cast
        .devices
        .iter()
        .map(|d| fleet::Device {
            id: d.id.clone(),
            key: d.key.clone(),
            loinc: d.loinc,
        })
        .collect::<Vec<_>>();
    let (rate, brokers, kafka) = (
        args.rate,
        parts.brokers.clone(),
        parts.device_gateway.clone(),
    );
    let handle = std::thread::spawn(move || {
        fleet::run(&brokers, &kafka, READINGS, &devices, rate, &stop, &shared)
    });
    running.fleet = Some((fleet_stop, handle));
    println!(
        "  fleet: {} devices publishing {} signed readings/s (one in {} misbehaves on purpose)",
        cast.devices.len(),
        args.rate,
        fleet::BAD_EVERY
    );
    counters
}
