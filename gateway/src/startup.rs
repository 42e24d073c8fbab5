//! Builds the gateway from its settings and serves until told to stop. The
//! binary only parses its arguments into `Settings`; a test can build the
//! same application in its own process.

use crate::limits::{Rate, RelayLimits};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use ehr_client::rpc::proven::ProvenState;
use ehr_client::rpc::trust::{TrustError, TrustRoot};
use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::SecretKey;
use ehr_transport::postgres::PgUrlError;
use ehr_transport::{ServiceListener, TlsError, Transport};

use crate::disclosures::Logger;
use crate::{auth, proofs::Proofs, routes, Gateway};

/// Everything the gateway is started with.
pub struct Settings {
    /// Where to listen (port 0: any free port).
    pub listen: String,
    pub database_url: String,
    /// RPC of a CometBFT node (or `ehr-node dev`) of the consortium.
    pub node: String,
    /// What the node's answers are proven against: the consortium's genesis
    /// file (headers checked by the validators' signatures), or a dev
    /// sequencer trusted by explicit choice.
    pub trust: TrustRoot,
    /// Decisions rest on a state whose newest header is at most this old.
    pub max_state_age: Duration,
    /// The gateway service's key, registered on chain by its organisation.
    pub key: SecretKey,
    pub connections: usize,
    /// How often the disclosure log is sent to the chain.
    pub audit_interval: Duration,
    /// Disclosures waiting for the chain longer than this stop all serving.
    pub audit_lag_limit: Duration,
    /// Apply pending migrations (as the database's owner) instead of only
    /// checking they are there.
    pub migrate: bool,
    /// The built web portal (`portal/dist`), served under `/portal/`.
    pub portal_dir: Option<std::path::PathBuf>,
    /// The portal accepts the demonstration's log-in links.
    pub demo_logins: bool,
    /// How often one key, and one network address, may use the chain relay.
    pub relay_per_key: Rate,
    pub relay_per_address: Rate,
    /// How often one network address may look up the code directory.
    pub lookups_per_address: Rate,
    /// TLS: the listener's certificate (or plaintext by explicit choice), and
    /// the authorities the node's certificate must chain to.
    pub transport: Transport,
}

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot prepare the database: {0}")]
    Schema(#[from] ehr_migrations::SchemaError),
    #[error("--database-url: {0}")]
    Pool(#[from] PoolError),
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        listen: String,
        source: std::io::Error,
    },
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot set up the chain's trust root: {0}")]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Why a connection pool cannot be made for a database URL.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Url(#[from] PgUrlError),
    #[error(transparent)]
    Build(#[from] deadpool_postgres::BuildError),
}

/// A connection pool for `database_url`, with the TLS its `sslmode` asks for.
pub fn pool(database_url: &str, size: usize) -> Result<deadpool_postgres::Pool, PoolError> {
    let mut connect = ehr_transport::postgres::parse(database_url)?;
    // A request's query reads one patient's rows: on tables of millions,
    // PostgreSQL would otherwise start parallel workers for it, whose
    // start-up (≈ 5 ms) is most of the query's time and takes the cores the
    // other requests need (docs/BENCHMARKS.md, "Flat as it grows").
    connect
        .config
        .options("-c max_parallel_workers_per_gather=0");
    let manager = deadpool_postgres::Manager::from_config(
        connect.config,
        connect.tls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    Ok(deadpool_postgres::Pool::builder(manager)
        .max_size(size)
        .build()?)
}

/// The gateway, its database ready and its port bound, not yet serving.
pub struct Application {
    gateway: Arc<Gateway>,
    listener: ServiceListener,
    audit_interval: Duration,
    portal_dir: Option<std::path::PathBuf>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let url = settings.database_url.clone();
        let migrate = settings.migrate;
        // The migrations use blocking clients: off the async runtime.
        tokio::task::spawn_blocking(move || {
            if migrate {
                ehr_migrations::migrate(&url)
            } else {
                ehr_migrations::require_migrated(&url)
            }
        })
        .await
        .map_err(|e| {
            ehr_migrations::SchemaError::Invalid(format!("the migration check stopped: {e}"))
        })??;
        let db = pool(&settings.database_url, settings.connections.max(2))?;
        let tls = settings.transport.server()?;
        let listener = tokio::net::TcpListener::bind(&settings.listen)
            .await
            .and_then(|tcp| ServiceListener::new(tcp, tls))
            .map_err(|source| StartupError::Listen {
                listen: settings.listen.clone(),
                source,
            })?;
        let rpc = RpcClient::using(&settings.node, &settings.transport);
        let chain =
            ProvenState::connect(rpc.clone(), &settings.trust, settings.max_state_age).await?;
        tracing::info!(service = %settings.key.address(), node = %settings.node, trust = %chain.trust(), "ehr-gateway starting");
        Ok(Application {
            gateway: Arc::new(Gateway {
                db,
                rpc,
                chain,
                key: settings.key,
                proofs: Proofs::default(),
                audit_lag_limit: settings.audit_lag_limit.max(Duration::from_secs(1)),
                standing: Default::default(),
                demo_logins: settings.demo_logins,
                relay_limits: RelayLimits::new(settings.relay_per_key, settings.relay_per_address),
                // Unsigned: only the per-address limit applies.
                lookup_limits: RelayLimits::new(
                    settings.lookups_per_address,
                    settings.lookups_per_address,
                ),
            }),
            listener,
            audit_interval: settings.audit_interval.max(Duration::from_millis(10)),
            portal_dir: settings.portal_dir,
        })
    }

    /// Where it listens (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr, StartupError> {
        self.listener.local_addr().map_err(StartupError::Serve)
    }

    /// Where it serves, as a URL (`https://` unless told to serve plaintext).
    pub fn url(&self) -> String {
        self.listener.url()
    }

    /// Serves, and logs disclosures on chain, until `stop` resolves; then
    /// gives the disclosure log a last round for what was served.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let Application {
            gateway,
            listener,
            audit_interval,
            portal_dir,
        } = self;
        let logger = Logger {
            rpc: gateway.rpc.clone(),
            key: gateway.key.clone(),
        };
        let g = gateway.clone();
        tokio::spawn(async move { logger.run(&g.db, &g.chain, audit_interval).await });
        let g = gateway.clone();
        tokio::spawn(async move { auth::prune_nonces(&g).await });
        let g = gateway.clone();
        tokio::spawn(async move { crate::erasures::follow(&g).await });
        // Each request knows its peer's address: the relay limits by it.
        // tap_io: the connect info (the peer's address) of a TLS listener.
        axum::serve(
            listener.tap_io(|_| {}),
            routes::router(gateway.clone(), portal_dir.as_deref())
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await
        .map_err(StartupError::Serve)?;
        if let Ok(db) = gateway.db.get().await {
            let last = Logger {
                rpc: gateway.rpc.clone(),
                key: gateway.key.clone(),
            };
            let _ =
                tokio::time::timeout(Duration::from_secs(5), last.round(&db, &gateway.chain)).await;
        }
        Ok(())
    }
}
