//! ehr-ingest: the IoMT ingest service (docs/ingest.md).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ehr_client::rpc::trust::TrustArgs;
use ehr_ingest::consumer::Config;
use ehr_ingest::startup::{Application, Settings};

#[derive(Parser)]
#[command(
    name = "ehr-ingest",
    version,
    about = "IoMT readings from Kafka → verified, encrypted, PostgreSQL, anchored on chain"
)]
struct Args {
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(long, env = "EHR_READINGS_TOPIC", default_value = ehr_client::readings::READINGS_TOPIC)]
    topic: String,
    /// Where refused messages go, with the reason in their headers.
    #[arg(
        long,
        env = "EHR_DEAD_LETTER_TOPIC",
        default_value = ehr_client::readings::DEAD_LETTER_TOPIC
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
    #[arg(long, env = "EHR_NODE", default_value = ehr_client::rpc::DEFAULT_NODE_URL)]
    node: String,
    #[command(flatten)]
    trust: TrustArgs,
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
    /// Readings per batch at most: the larger, the fewer key wraps per
    /// reading (a patient's readings of a batch share one data key).
    #[arg(long, default_value_t = 4000)]
    batch_size: usize,
    /// How long a batch waits to fill, in ms: bounds the time to storage.
    #[arg(long, default_value_t = 250)]
    batch_ms: u64,
    /// How long device, patient and grant answers are cached (a revoked device
    /// stops being accepted within this time).
    #[arg(long, default_value_t = 10)]
    cache_seconds: u64,
    /// How long a patient's data key serves her next readings while the same
    /// readers read her vitals (any change of readers gives a new key): the
    /// longer, the fewer wraps stored per reading; 0: a key per patient and
    /// poll.
    #[arg(long, default_value_t = 60)]
    key_minutes: u64,
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
    #[command(flatten)]
    tls: ehr_transport::TlsArgs,
    #[command(flatten)]
    kafka: ehr_transport::kafka::KafkaArgs,
    #[arg(long)]
    log_json: bool,
}

fn main() {
    let args = Args::parse();
    ehr_client::service::init_logging(args.log_json);
    if let Err(e) = run(args) {
        eprintln!("ehr-ingest: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let transport = ehr_transport::Transport::from_args(&args.tls)?;
    ehr_transport::install(&transport);
    let key = ehr_client::service::read_key_file(&args.key_file)?;
    let secret = ehr_client::service::read_secret(
        args.pseudonym_secret_file.as_deref(),
        "EHR_PSEUDONYM_SECRET",
        "pseudonym secret",
    )?;
    let settings = Settings {
        consumer: Config {
            brokers: args.brokers,
            kafka: args.kafka.security(args.tls.client.ca_file.as_deref())?,
            topic: args.topic.clone(),
            dead_letter_topic: args.dead_letter_topic,
            group: args.group,
            database_url: args.database_url,
            node: args.node,
            trust: args.trust.root()?,
            max_state_age: args.trust.max_state_age(),
            key,
            pseudonym_secret: secret,
            batch_size: args.batch_size.max(1),
            batch_ms: args.batch_ms.max(10),
            cache_ttl: Duration::from_secs(args.cache_seconds),
            key_span: ehr_ingest::keyring::KeySpan {
                time: Duration::from_secs(args.key_minutes * 60),
                ..Default::default()
            },
            stale_limit: Duration::from_secs(args.stale_limit_seconds),
            session_timeout_ms: args.session_timeout_ms,
        },
        metrics: args.metrics,
        migrate: args.migrate,
        transport,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = Application::build(settings).await?;
        // Scripts and tests wait for this line (and learn the port).
        println!(
            "ehr-ingest: consuming {} — metrics at {}",
            args.topic,
            app.metrics_url()
        );
        app.run_until(ehr_client::service::shutdown_signal())
            .await?;
        Ok(())
    })
}
