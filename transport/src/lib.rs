//! Transport security: the one place where TLS is set up. Every binary takes
//! the same few options ([`TlsArgs`]) and turns them into a [`Transport`]:
//! the authorities it trusts, its own certificate, and whether its listener
//! asks clients for theirs. The HTTP clients (the chain's RPC, the gateway),
//! the listeners (the gateway, ingest's metrics, the dev sequencer) and the
//! PostgreSQL connections all take their TLS from here, so one flag means the
//! same thing in every service and no service sets TLS up on its own.
//!
//! rustls with the `ring` provider, TLS 1.2 and 1.3, no system OpenSSL.

mod files;
pub mod kafka;
pub mod listener;
pub mod pki;
pub mod postgres;
mod verify;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub use files::{read_certificates, read_private_key, write_private};
pub use listener::{Conn, Peer, ServiceListener};

/// A client's options: whom it trusts, and who it is when a server asks.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClientTlsArgs {
    /// The certificate authority (PEM) this process trusts: servers it connects to
    /// over https, and clients its listener asks for a certificate, must chain to it.
    /// Without it, the system's trusted authorities are used for servers.
    #[arg(
        long = "ca-file",
        env = "EHR_CA_FILE",
        value_name = "PEM",
        global = true
    )]
    pub ca_file: Option<PathBuf>,
    /// This process's certificate chain (PEM): what its listener serves, and what it
    /// shows a server that asks for a client certificate.
    #[arg(
        id = "tls_cert_file",
        long = "tls-cert-file",
        value_name = "PEM",
        requires = "tls_key_file",
        global = true
    )]
    pub cert_file: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, SEC1 or PKCS#1) of --tls-cert-file.
    #[arg(
        id = "tls_key_file",
        long = "tls-key-file",
        value_name = "PEM",
        requires = "tls_cert_file",
        global = true
    )]
    pub key_file: Option<PathBuf>,
}

/// A service's options: a client's, and how its listener serves.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    #[command(flatten)]
    pub client: ClientTlsArgs,
    /// The listener refuses clients that show no certificate signed by --ca-file
    /// (mutual TLS), for a listener only other services of the consortium reach.
    #[arg(long, requires = "ca_file")]
    pub require_client_cert: bool,
    /// With --require-client-cert: the authority clients' certificates must chain
    /// to, when it is not --ca-file (an authority that issues callers' certificates
    /// only, so that no service's certificate passes for a caller's).
    #[arg(long, value_name = "PEM", requires = "require_client_cert")]
    pub client_ca_file: Option<PathBuf>,
    /// Listen in plaintext HTTP, without --tls-cert-file: for a look on one machine only.
    /// Anyone on the path reads and changes what passes.
    #[arg(long, conflicts_with_all = ["tls_cert_file", "require_client_cert"])]
    pub insecure_plaintext: bool,
}

/// Why TLS could not be set up, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{path} holds no {what} in PEM form (a block starting -----BEGIN ...)")]
    Empty { what: &'static str, path: PathBuf },
    #[error("the TLS settings were refused: {0}")]
    Config(String),
    #[error(
        "this listener serves TLS: give --tls-cert-file and --tls-key-file (and --ca-file), \
         or --insecure-plaintext to serve plaintext on one machine"
    )]
    NoServerCertificate,
}

/// TLS as this process speaks it, resolved from [`TlsArgs`].
#[derive(Clone)]
pub struct Transport {
    client: Arc<ClientConfig>,
    server: Option<Arc<ServerConfig>>,
    ca_file: Option<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
    insecure_plaintext: bool,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("ca_file", &self.ca_file)
            .field("serves_tls", &self.server.is_some())
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Transport {
    /// Reads the files the options name. A listener without a certificate is an
    /// error unless plaintext was asked for: see [`Transport::server`].
    pub fn from_args(args: &TlsArgs) -> Result<Transport, TlsError> {
        let c = &args.client;
        let roots = match &c.ca_file {
            Some(path) => Some(roots_from(path)?),
            None => None,
        };
        let identity = match (&c.cert_file, &c.key_file) {
            (Some(cert), Some(key)) => Some((read_certificates(cert)?, read_private_key(key)?)),
            _ => None,
        };
        let client = client_config(
            roots.clone(),
            identity
                .as_ref()
                .map(|(chain, key)| (chain.clone(), key.clone_key())),
        )?;
        let server = match identity {
            Some((chain, key)) if !args.insecure_plaintext => {
                let client_roots = match (&args.client_ca_file, args.require_client_cert) {
                    (_, false) => None,
                    (Some(path), true) => Some(roots_from(path)?),
                    (None, true) => roots,
                };
                Some(server_config(chain, key, client_roots)?)
            }
            _ => None,
        };
        Ok(Transport {
            client: Arc::new(client),
            server: server.map(Arc::new),
            ca_file: c.ca_file.clone(),
            identity: c.cert_file.clone().zip(c.key_file.clone()),
            insecure_plaintext: args.insecure_plaintext,
        })
    }

    /// A client's transport (no listener).
    pub fn for_client(args: &ClientTlsArgs) -> Result<Transport, TlsError> {
        Self::from_args(&TlsArgs {
            client: args.clone(),
            ..TlsArgs::default()
        })
    }

    /// A client trusting the system's authorities, with no certificate of its own.
    pub fn system() -> Transport {
        let client = client_config(None, None).unwrap_or_else(|_| {
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        });
        Transport {
            client: Arc::new(client),
            server: None,
            ca_file: None,
            identity: None,
            insecure_plaintext: false,
        }
    }

    /// The client side: trust anchors and, when given, this service's certificate.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }

    /// The CA file, for a child process or a connection string that needs its path.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file.as_deref()
    }

    /// This service's certificate and key files.
    pub fn identity_files(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        self.identity
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path()))
    }

    /// The listener's side, or None when it was told to serve plaintext. Without
    /// a certificate and without --insecure-plaintext it is an error: a service
    /// never falls back to plaintext on its own.
    pub fn server(&self) -> Result<Option<Arc<ServerConfig>>, TlsError> {
        match (&self.server, self.insecure_plaintext) {
            (Some(server), _) => Ok(Some(server.clone())),
            (None, true) => Ok(None),
            (None, false) => Err(TlsError::NoServerCertificate),
        }
    }

    /// An HTTP client speaking this TLS (and plaintext to `http://` URLs).
    pub fn http(&self, timeout: Duration) -> reqwest::Client {
        let mut config = (*self.client).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        reqwest::Client::builder()
            .timeout(timeout)
            // CometBFT's RPC server closes a connection idle for 10 s (its
            // read timeout); a pooled connection kept longer can be closed
            // under a request sent on it ("connection closed before message
            // completed"). Idle connections are dropped well before that.
            .pool_idle_timeout(Duration::from_secs(5))
            .tls_backend_preconfigured(config)
            .build()
            .expect("a client from a valid rustls configuration builds")
    }
}

/// Why a request failed, in a sentence: reqwest's message with its causes
/// (the TLS reason sits deep in them), and what to do when the server's
/// certificate was the reason.
pub fn explain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    if out.contains("certificate") || out.contains("UnknownIssuer") {
        out.push_str(
            " — the server's certificate is not one this client can check: give --ca-file \
             the authority that signed it (EHR_CA_FILE), and use the host name it was issued for",
        );
    }
    out
}

static PROCESS: RwLock<Option<Transport>> = RwLock::new(None);

/// Sets the TLS the process's clients use when not given one (the CLI, the
/// services' chain clients, a test's clients). Clients made before keep what
/// they had.
pub fn install(transport: &Transport) {
    *PROCESS.write().unwrap_or_else(|e| e.into_inner()) = Some(transport.clone());
}

/// The process's TLS: what [`install`] set, else the system's authorities.
pub fn process() -> Transport {
    if let Some(t) = PROCESS.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return t.clone();
    }
    static SYSTEM: OnceLock<Transport> = OnceLock::new();
    SYSTEM.get_or_init(Transport::system).clone()
}

fn roots_from(path: &std::path::Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(path)? {
        roots.add(cert).map_err(|e| TlsError::Read {
            what: "certificate authority",
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    roots
}

fn client_config(
    roots: Option<RootCertStore>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots.unwrap_or_else(system_roots));
    match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            TlsError::Config(format!("the certificate and key do not go together: {e}"))
        }),
        None => Ok(builder.with_no_client_auth()),
    }
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Option<RootCertStore>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_roots {
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        TlsError::Config(format!("the certificate and key do not go together: {e}"))
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
