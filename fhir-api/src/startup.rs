//! Building the API from its settings and serving it until told to stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ehr_client::keyring::Keyring;
use ehr_client::rpc::proven::ProvenState;
use ehr_client::rpc::trust::TrustRoot;
use ehr_client::rpc::RpcClient;
use ehr_transport::{Peer, ServiceListener, Transport};

use crate::callers::{CallerRule, Callers};
use crate::routes::{router, Api};

pub struct Settings {
    /// TLS: the listener asks every caller for a certificate.
    pub transport: Transport,
    pub listen: String,
    /// The hospital's record gateway.
    pub gateway: String,
    /// RPC of a validator (or `ehr-node dev`).
    pub node: String,
    pub trust: TrustRoot,
    pub max_state_age: Duration,
    /// The folder of the clinicians' keys.
    pub keys: PathBuf,
    pub callers: Vec<CallerRule>,
    /// The base URL callers reach the API at (links are made from it);
    /// by default `https://<listen address>/fhir`.
    pub base_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("the FHIR API knows its callers by their client certificates: give --ca-file (the authority that issues them), --tls-cert-file and --tls-key-file")]
    NotMutualTls,
    #[error("no caller may act for any clinician: give at least one --caller <certificate name>=<clinician key>")]
    NoCallers,
    #[error("{0}")]
    Callers(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("the chain's headers cannot be checked: {0}")]
    Trust(#[from] ehr_client::rpc::trust::TrustError),
    #[error(transparent)]
    Tls(#[from] ehr_transport::TlsError),
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

pub struct Application {
    listener: ServiceListener,
    api: Arc<Api>,
}

impl Application {
    pub async fn build(s: Settings) -> Result<Application, StartupError> {
        if s.transport.ca_file().is_none() {
            return Err(StartupError::NotMutualTls);
        }
        let tls = s.transport.server()?.ok_or(StartupError::NotMutualTls)?;
        if s.callers.is_empty() {
            return Err(StartupError::NoCallers);
        }
        let keyring = Keyring::new(&s.keys);
        let callers = Callers::new(&s.callers, &s.gateway, &s.transport, |name| {
            keyring.load(name).map_err(|e| e.to_string())
        })
        .map_err(StartupError::Callers)?;
        let chain =
            ProvenState::connect(RpcClient::new(&s.node), &s.trust, s.max_state_age).await?;
        let tcp = tokio::net::TcpListener::bind(&s.listen)
            .await
            .map_err(|e| StartupError::Listen(s.listen.clone(), e))?;
        let listener = ServiceListener::new(tcp, Some(tls))
            .map_err(|e| StartupError::Listen(s.listen.clone(), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| StartupError::Listen(s.listen.clone(), e))?;
        let base = s
            .base_url
            .unwrap_or_else(|| format!("https://{local}/fhir"))
            .trim_end_matches('/')
            .to_string();
        Ok(Application {
            listener,
            api: Arc::new(Api {
                callers,
                chain,
                base,
            }),
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, std::io::Error> {
        self.listener.local_addr()
    }

    /// The base URL of the API.
    pub fn base(&self) -> &str {
        &self.api.base
    }

    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let app = router(self.api).into_make_service_with_connect_info::<Peer>();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(StartupError::Serve)
    }
}
