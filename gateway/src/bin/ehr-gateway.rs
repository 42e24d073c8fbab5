//! ehr-gateway: the record gateway (docs/gateway.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ehr_client::rpc::RpcClient;
use ehr_gateway::disclosures::Logger;
use ehr_gateway::{auth, pool, proofs::Proofs, routes, Gateway};

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
    #[arg(long, env = "EHR_NODE", default_value = "http://127.0.0.1:26657")]
    node: String,
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
    #[arg(long)]
    log_json: bool,
}

fn main() {
    let args = Args::parse();
    ehr_client::service::init_logging(args.log_json);
    if let Err(e) = run(args) {
        eprintln!("ehr-gateway: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let key = ehr_client::service::read_key_file(&args.key_file)?;
    if args.migrate {
        ehr_migrations::migrate(&args.database_url)
    } else {
        ehr_migrations::require_migrated(&args.database_url)
    }
    .map_err(|e| format!("cannot prepare the database: {e}"))?;
    let db = pool(&args.database_url, args.connections.max(2))
        .map_err(|e| format!("--database-url: {e}"))?;
    let gateway = Arc::new(Gateway {
        db,
        rpc: RpcClient::new(&args.node),
        key: key.clone(),
        proofs: Proofs::default(),
        audit_lag_limit: Duration::from_secs(args.audit_lag_limit_secs.max(1)),
        standing: Default::default(),
    });
    tracing::info!(service = %key.address(), node = %args.node, "ehr-gateway starting");
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let logger = Logger {
            rpc: RpcClient::new(&args.node),
            key,
        };
        let g = gateway.clone();
        let interval = Duration::from_millis(args.audit_interval_ms.max(10));
        tokio::spawn(async move { logger.run(&g.db, interval).await });
        let g = gateway.clone();
        tokio::spawn(async move { auth::prune_nonces(&g).await });
        println!(
            "ehr-gateway: serving records at http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        axum::serve(listener, routes::router(gateway.clone()))
            .with_graceful_shutdown(ehr_client::service::shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
        // What was served is in the outbox; give the logger a last round.
        if let Ok(db) = gateway.db.get().await {
            let last = Logger {
                rpc: gateway.rpc.clone(),
                key: gateway.key.clone(),
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), last.round(&db)).await;
        }
        Ok::<(), String>(())
    })
}
