//! ehr-gateway: the record gateway (docs/gateway.md).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ehr_client::rpc::trust::TrustArgs;
use ehr_gateway::limits::Rate;
use ehr_gateway::startup::{Application, Settings};

#[derive(Parser)]
#[command(
    name = "ehr-gateway",
    version,
    about = "The record gateway: signed requests, consent checked on chain, every disclosure audited"
)]
struct Args {
    /// Where to listen (port 0: any free port, announced on standard output).
    #[arg(long, env = "EHR_GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = ehr_migrations::DEFAULT_DATABASE_URL
    )]
    database_url: String,
    /// RPC of a CometBFT node (or `ehr-node dev`) of the consortium.
    #[arg(long, env = "EHR_NODE", default_value = ehr_client::rpc::DEFAULT_NODE_URL)]
    node: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// The gateway service's key, registered on chain by its organisation.
    #[arg(long, env = "EHR_GATEWAY_KEY_FILE")]
    key_file: PathBuf,
    /// Database connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// How often the disclosure log is sent to the chain.
    #[arg(long, default_value_t = 200)]
    audit_interval_ms: u64,
    /// When a disclosure has waited this long for the chain, the gateway
    /// serves nothing until the log flows again.
    #[arg(long, default_value_t = 120)]
    audit_lag_limit_secs: u64,
    /// Apply pending migrations at start. Needs the database's owner; a
    /// service normally logs in with its own least-privilege role (member of
    /// ehr_gateway) and only checks the migrations are there.
    #[arg(long)]
    migrate: bool,
    /// Serve the built web portal (portal/dist, after `npm run build` in
    /// portal/) under /portal/.
    #[arg(long)]
    portal_dir: Option<PathBuf>,
    /// Let the portal take a key from a log-in link (`…/portal/#login=<key>`),
    /// as the main job writes for its demonstration keys. Never for real
    /// users: a key in a link ends up in browser history and chat logs.
    #[arg(long)]
    portal_demo_logins: bool,
    /// Chain relay calls a second one signing key may make (POST /chain).
    #[arg(long, default_value_t = 20)]
    relay_per_key: u32,
    /// … and how many of them at once.
    #[arg(long, default_value_t = 100)]
    relay_burst_per_key: u32,
    /// Chain relay calls a second from one network address (all callers
    /// together behind a reverse proxy).
    #[arg(long, default_value_t = 100)]
    relay_per_address: u32,
    /// … and how many of them at once.
    #[arg(long, default_value_t = 400)]
    relay_burst_per_address: u32,
    /// Code directory look-ups (unsigned, GET /v1/codes) a second from one
    /// network address: a search proves many codes, so fewer than relay calls.
    #[arg(long, default_value_t = 10)]
    lookups_per_address: u32,
    /// … and how many of them at once.
    #[arg(long, default_value_t = 30)]
    lookup_burst_per_address: u32,
    #[command(flatten)]
    tls: ehr_transport::TlsArgs,
    #[arg(long)]
    log_json: bool,
}

fn main() {
    let args = Args::parse();
    ehr_client::service::init_logging(args.log_json);
    if let Err(e) = run(args) {
        eprintln!("ehr-gateway: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let transport = ehr_transport::Transport::from_args(&args.tls)?;
    ehr_transport::install(&transport);
    let settings = Settings {
        transport,
        key: ehr_client::service::read_key_file(&args.key_file)?,
        listen: args.listen,
        database_url: args.database_url,
        node: args.node,
        trust: args.trust.root()?,
        max_state_age: args.trust.max_state_age(),
        connections: args.connections,
        audit_interval: Duration::from_millis(args.audit_interval_ms),
        audit_lag_limit: Duration::from_secs(args.audit_lag_limit_secs),
        migrate: args.migrate,
        portal_dir: args.portal_dir,
        demo_logins: args.portal_demo_logins,
        relay_per_key: Rate {
            per_second: args.relay_per_key,
            burst: args.relay_burst_per_key,
        },
        relay_per_address: Rate {
            per_second: args.relay_per_address,
            burst: args.relay_burst_per_address,
        },
        lookups_per_address: Rate {
            per_second: args.lookups_per_address,
            burst: args.lookup_burst_per_address,
        },
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = Application::build(settings).await?;
        // Scripts and tests wait for this line (and learn the port).
        println!("ehr-gateway: serving records at {}", app.url());
        app.run_until(ehr_client::service::shutdown_signal())
            .await?;
        Ok(())
    })
}
