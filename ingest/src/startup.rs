//! Builds the ingest service from its settings and runs it until told to
//! stop: the consumer and the anchorer on threads of their own, the metrics
//! over HTTP. The binary only parses its arguments into `Settings`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use ehr_client::rpc::RpcClient;
use ehr_transport::{ServiceListener, TlsError, Transport};

use crate::anchor::Anchorer;
use crate::consumer::{self, Config, ConsumerError};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Everything the service is started with.
pub struct Settings {
    /// The consumer's settings (broker, topics, database, chain, key, batches).
    pub consumer: Config,
    /// Where the metrics are served (port 0: any free port).
    pub metrics: String,
    /// Apply pending migrations (as the database's owner) instead of only
    /// checking they are there.
    pub migrate: bool,
    /// TLS: the metrics listener's certificate (or plaintext by explicit
    /// choice); the chain's clients use the process's (`transport::install`).
    pub transport: Transport,
}

/// Why the service cannot start or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot prepare the database: {0}")]
    Schema(#[from] ehr_migrations::SchemaError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot serve metrics on {listen}: {source}")]
    Metrics {
        listen: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot start a thread or runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
}

/// The service with its database ready and its metrics port bound.
pub struct Application {
    settings: Settings,
    listener: ServiceListener,
}

impl Application {
    /// Checks (or applies) the migrations and binds the metrics port. The
    /// migrations use a blocking client: call from outside the runtime or
    /// through `spawn_blocking`, as `run` does.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let url = settings.consumer.database_url.clone();
        let migrate = settings.migrate;
        tokio::task::spawn_blocking(move || {
            if migrate {
                ehr_migrations::migrate(&url)
            } else {
                ehr_migrations::require_migrated(&url)
            }
        })
        .await
        .map_err(|_| StartupError::Panicked("migration"))??;
        let tls = settings.transport.server()?;
        let listener = tokio::net::TcpListener::bind(&settings.metrics)
            .await
            .and_then(|tcp| ServiceListener::new(tcp, tls))
            .map_err(|source| StartupError::Metrics {
                listen: settings.metrics.clone(),
                source,
            })?;
        Ok(Application { settings, listener })
    }

    /// Where the metrics are served.
    pub fn metrics_addr(&self) -> Result<SocketAddr, StartupError> {
        self.listener.local_addr().map_err(StartupError::Runtime)
    }

    /// The metrics' URL (`https://` unless told to serve plaintext).
    pub fn metrics_url(&self) -> String {
        format!("{}/metrics", self.listener.url())
    }

    /// Consumes and anchors until `stop` resolves; then finishes the
    /// current batch and returns.
    pub async fn run_until(
        self,
        stop_signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let cfg = self.settings.consumer;
        tracing::info!(service = %cfg.key.address(), topic = %cfg.topic, "ehr-ingest starting");
        let metrics = Arc::new(Metrics::default());
        let stop = Arc::new(AtomicBool::new(false));
        let consumer_thread = {
            let (cfg, metrics, stop) = (cfg.clone(), metrics.clone(), stop.clone());
            std::thread::Builder::new()
                .name("consume".into())
                .spawn(move || {
                    let consumed = consumer::run(cfg, metrics, stop);
                    // Without its consumer the service does nothing: it stops,
                    // saying why, for its supervisor to see (not a healthy
                    // /health over a dead consumer).
                    if let Err(error) = &consumed {
                        eprintln!("ehr-ingest: {error}");
                        std::process::exit(1);
                    }
                    consumed
                })
                .map_err(StartupError::Runtime)?
        };
        let anchor_thread = {
            let (metrics, stop) = (metrics.clone(), stop.clone());
            let (url, node, key) = (cfg.database_url.clone(), cfg.node.clone(), cfg.key.clone());
            let transport = self.settings.transport.clone();
            std::thread::Builder::new()
                .name("anchor".into())
                .spawn(move || -> Result<(), StartupError> {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(StartupError::Runtime)?;
                    let mut store = Store::connect(&url, &key.address().to_string())?;
                    let mut anchorer =
                        Anchorer::new(RpcClient::using(&node, &transport), key, runtime);
                    anchorer.run(&mut store, &stop, &metrics);
                    Ok(())
                })
                .map_err(StartupError::Runtime)?
        };
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
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(stop_signal)
            .await
            .map_err(StartupError::Runtime);
        tracing::info!("shutting down: finishing the current batch");
        stop.store(true, Ordering::Relaxed);
        let consumed = tokio::task::spawn_blocking(move || consumer_thread.join())
            .await
            .map_err(|_| StartupError::Panicked("consumer"))?
            .map_err(|_| StartupError::Panicked("consumer"))?;
        let _ = tokio::task::spawn_blocking(move || anchor_thread.join()).await;
        served?;
        Ok(consumed?)
    }
}
