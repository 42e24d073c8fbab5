//! ehr-ingest: the IoMT ingest service (docs/ingest.md).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use clap::Parser;
use ehr_client::rpc::RpcClient;
use ehr_ingest::anchor::Anchorer;
use ehr_ingest::consumer::{self, Config};
use ehr_ingest::metrics::Metrics;
use ehr_ingest::store::Store;

#[derive(Parser)]
#[command(
    name = "ehr-ingest",
    version,
    about = "IoMT readings from Kafka → verified, encrypted, PostgreSQL, anchored on chain"
)]
struct Args {
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(long, env = "EHR_READINGS_TOPIC", default_value = "ehr.readings")]
    topic: String,
    /// Where refused messages go, with the reason in their headers.
    #[arg(
        long,
        env = "EHR_DEAD_LETTER_TOPIC",
        default_value = "ehr.readings.dead-letter"
    )]
    dead_letter_topic: String,
    #[arg(long, env = "EHR_INGEST_GROUP", default_value = "ehr-ingest")]
    group: String,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = ehr_migrations::DEFAULT_DATABASE_URL
    )]
    database_url: String,
    /// The chain's RPC (CometBFT or ehr-node dev).
    #[arg(long, env = "EHR_NODE", default_value = "http://127.0.0.1:26657")]
    node: String,
    /// The service's key file (as written by `ehr keys generate`); the key must
    /// be registered on chain as an ingest service.
    #[arg(long, env = "EHR_INGEST_KEY_FILE")]
    key_file: PathBuf,
    /// A file holding the secret for the analytics pseudonyms (at least 32
    /// bytes, hex; readable by its owner only). Without it, the environment
    /// variable EHR_PSEUDONYM_SECRET holds the secret. There is no default,
    /// and no way to pass the secret itself as an argument.
    #[arg(long, env = "EHR_PSEUDONYM_SECRET_FILE")]
    pseudonym_secret_file: Option<PathBuf>,
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    #[arg(long, default_value_t = 250)]
    batch_ms: u64,
    /// How long device, patient and grant answers are cached (a revoked device
    /// stops being accepted within this time).
    #[arg(long, default_value_t = 10)]
    cache_seconds: u64,
    /// While the chain cannot be reached, its last answers stand in for it
    /// for at most this long after they were fetched; then readings wait
    /// (a device revoked meanwhile is not accepted for ever).
    #[arg(long, default_value_t = 120)]
    stale_limit_seconds: u64,
    #[arg(long, default_value_t = 6000)]
    session_timeout_ms: u32,
    #[arg(long, env = "EHR_INGEST_METRICS", default_value = "127.0.0.1:9464")]
    metrics: String,
    /// Apply pending migrations at start. Needs the database's owner; a
    /// service normally logs in with its own least-privilege role (member of
    /// ehr_ingest) and only checks the migrations are there.
    #[arg(long)]
    migrate: bool,
    #[arg(long)]
    log_json: bool,
}

fn main() {
    let args = Args::parse();
    ehr_client::service::init_logging(args.log_json);
    if let Err(e) = run(args) {
        eprintln!("ehr-ingest: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let key = ehr_client::service::read_key_file(&args.key_file)?;
    let secret = ehr_client::service::read_secret(
        args.pseudonym_secret_file.as_deref(),
        "EHR_PSEUDONYM_SECRET",
        "pseudonym secret",
    )?;
    if args.migrate {
        ehr_migrations::migrate(&args.database_url)
    } else {
        ehr_migrations::require_migrated(&args.database_url)
    }
    .map_err(|e| format!("cannot prepare the database: {e}"))?;
    tracing::info!(service = %key.address(), topic = %args.topic, "ehr-ingest starting");
    let cfg = Config {
        brokers: args.brokers.clone(),
        topic: args.topic.clone(),
        dead_letter_topic: args.dead_letter_topic.clone(),
        group: args.group.clone(),
        database_url: args.database_url.clone(),
        node: args.node.clone(),
        key: key.clone(),
        pseudonym_secret: secret,
        batch_size: args.batch_size.max(1),
        batch_ms: args.batch_ms.max(10),
        cache_ttl: Duration::from_secs(args.cache_seconds),
        stale_limit: Duration::from_secs(args.stale_limit_seconds),
        session_timeout_ms: args.session_timeout_ms,
    };
    let metrics = Arc::new(Metrics::default());
    let stop = Arc::new(AtomicBool::new(false));

    let consumer_thread = {
        let (cfg, metrics, stop) = (cfg.clone(), metrics.clone(), stop.clone());
        std::thread::Builder::new()
            .name("consume".into())
            .spawn(move || consumer::run(cfg, metrics, stop))
            .map_err(|e| e.to_string())?
    };
    let anchor_thread = {
        let (metrics, stop, url, node) = (
            metrics.clone(),
            stop.clone(),
            args.database_url.clone(),
            args.node.clone(),
        );
        std::thread::Builder::new()
            .name("anchor".into())
            .spawn(move || -> Result<(), String> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                let anchorer = Anchorer {
                    rpc: RpcClient::new(&node),
                    key,
                    runtime,
                };
                let mut store = Store::connect(&url).map_err(|e| e.to_string())?;
                anchorer.run(&mut store, &stop, &metrics);
                Ok(())
            })
            .map_err(|e| e.to_string())?
    };

    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.metrics)
            .await
            .map_err(|e| format!("cannot serve metrics on {}: {e}", args.metrics))?;
        let m = metrics.clone();
        let app = Router::new()
            .route(
                "/metrics",
                get(move || {
                    let m = m.clone();
                    async move { m.render() }
                }),
            )
            .route("/health", get(|| async { "ok" }));
        println!(
            "ehr-ingest: consuming {} — metrics at http://{}/metrics",
            args.topic,
            listener.local_addr().map_err(|e| e.to_string())?
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(ehr_client::service::shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    })?;
    tracing::info!("shutting down: finishing the current batch");
    stop.store(true, Ordering::Relaxed);
    let consumed = consumer_thread
        .join()
        .map_err(|_| "the consumer thread panicked".to_string())?;
    let _ = anchor_thread.join();
    consumed
}
