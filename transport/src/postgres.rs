//! PostgreSQL connections with TLS as libpq's connection strings ask for it.
//!
//! `sslmode`, `sslrootcert`, `sslcert` and `sslkey` are read from the URL the
//! way libpq reads them, so the same `DATABASE_URL` serves our services, the
//! migrations (diesel, through libpq) and `psql`:
//! - `disable`, or no `sslmode`: plaintext;
//! - `require`, `verify-ca`: TLS; the server's chain checked against
//!   `sslrootcert` (the system's authorities without it), not its name;
//! - `verify-full`: the chain and the host name;
//! - `prefer` and `allow` are refused: they fall back to plaintext without
//!   saying so, which no hospital's link should do silently.
//!
//! With `sslcert` and `sslkey` the service shows its own certificate (for a
//! server that authenticates clients by certificate).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rustls::ClientConfig;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{read_certificates, read_private_key, TlsError};

/// The TLS connector every PostgreSQL connection of the project uses.
pub type PgTls = MakeRustlsConnect;

/// Why a database URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum PgUrlError {
    #[error("the database URL is not one PostgreSQL accepts: {0}")]
    Invalid(String),
    #[error(
        "sslmode={0} is refused: it falls back to plaintext without saying so; \
         write sslmode=verify-full (with sslrootcert=<CA file>) or sslmode=disable"
    )]
    SilentFallback(String),
    #[error("sslmode={0} is not one of disable, require, verify-ca, verify-full")]
    UnknownMode(String),
    #[error(
        "the database URL must be a postgres:// URL (key=value connection strings are not \
         read here, so their sslmode could not be honoured)"
    )]
    NotAUrl,
    #[error("the database's TLS settings: {0}")]
    Tls(#[from] TlsError),
}

/// A URL taken apart: what tokio-postgres reads, and the TLS it needs.
pub struct PgConnect {
    pub config: tokio_postgres::Config,
    pub tls: PgTls,
    /// Whether the connection is encrypted.
    pub encrypted: bool,
}

/// Parses a `postgres://` URL with its TLS options.
pub fn parse(url: &str) -> Result<PgConnect, PgUrlError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(PgUrlError::NotAUrl);
    }
    let (base, options) = split_tls_options(url);
    if options.mode.is_none() {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            tracing::warn!(
                "the database URL asks for no sslmode: PostgreSQL is reached in plaintext"
            )
        });
    }
    let mut config =
        tokio_postgres::Config::from_str(&base).map_err(|e| PgUrlError::Invalid(e.to_string()))?;
    let mode = options.mode.as_deref().unwrap_or("disable");
    let check_name = match mode {
        "disable" => None,
        "require" | "verify-ca" => Some(false),
        "verify-full" => Some(true),
        "prefer" | "allow" => return Err(PgUrlError::SilentFallback(mode.into())),
        other => return Err(PgUrlError::UnknownMode(other.into())),
    };
    config.ssl_mode(if check_name.is_some() {
        SslMode::Require
    } else {
        SslMode::Disable
    });
    let client = client_config(&options, check_name.unwrap_or(true))?;
    Ok(PgConnect {
        config,
        tls: MakeRustlsConnect::new(client),
        encrypted: check_name.is_some(),
    })
}

/// Connects (async) and drives the connection on its own task.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, PgConnectError> {
    let PgConnect { config, tls, .. } = parse(url)?;
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Connects with the blocking client (the migrations, ingest's store).
pub fn connect_blocking(url: &str) -> Result<postgres::Client, PgConnectError> {
    let PgConnect { config, tls, .. } = parse(url)?;
    Ok(postgres::Config::from(config).connect(tls)?)
}

/// Why a connection was not made.
#[derive(Debug, thiserror::Error)]
pub enum PgConnectError {
    #[error(transparent)]
    Url(#[from] PgUrlError),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[from] tokio_postgres::Error),
}

#[derive(Default)]
struct TlsOptions {
    mode: Option<String>,
    root_cert: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// Takes the TLS options out of the URL's query (tokio-postgres refuses the
/// ones it does not know) and leaves the rest as it was.
fn split_tls_options(url: &str) -> (String, TlsOptions) {
    let mut options = TlsOptions::default();
    let Some((head, query)) = url.split_once('?') else {
        return (url.to_string(), options);
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = percent_decode(value);
        match key {
            "sslmode" => options.mode = Some(decoded),
            "sslrootcert" => options.root_cert = Some(decoded.into()),
            "sslcert" => options.cert = Some(decoded.into()),
            "sslkey" => options.key = Some(decoded.into()),
            _ => kept.push(pair),
        }
    }
    let base = if kept.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    (base, options)
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn client_config(options: &TlsOptions, check_name: bool) -> Result<ClientConfig, PgUrlError> {
    let roots = match &options.root_cert {
        Some(path) => super::roots_from(path)?,
        None => super::system_roots(),
    };
    let builder = ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if check_name {
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                super::verify::ChainOnly::new(roots)
                    .map_err(|e| TlsError::Config(e.to_string()))?,
            ))
    };
    let config = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(read_certificates(cert)?, read_private_key(key)?)
            .map_err(|e| TlsError::Config(format!("sslcert and sslkey do not go together: {e}")))?,
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(TlsError::Config(
                "sslcert and sslkey go together: give both or neither".into(),
            )
            .into())
        }
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_taken_out_and_the_rest_kept() {
        let (base, o) = split_tls_options(
            "postgres://u:p@db.example:5432/ehr?connect_timeout=5&sslmode=verify-full&sslrootcert=%2Frun%2Fca.pem",
        );
        assert_eq!(base, "postgres://u:p@db.example:5432/ehr?connect_timeout=5");
        assert_eq!(o.mode.as_deref(), Some("verify-full"));
        assert_eq!(o.root_cert, Some(PathBuf::from("/run/ca.pem")));
    }

    #[test]
    fn no_sslmode_is_plaintext_and_verify_full_is_required_tls() {
        let plain = parse("postgres://u:p@127.0.0.1/ehr").unwrap();
        assert!(!plain.encrypted);
        assert_eq!(plain.config.get_ssl_mode(), SslMode::Disable);
        let tls = parse("postgres://u:p@127.0.0.1/ehr?sslmode=verify-full").unwrap();
        assert!(tls.encrypted);
        assert_eq!(tls.config.get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn silent_fallback_and_unknown_modes_are_refused_with_a_sentence() {
        for mode in ["prefer", "allow"] {
            let e = parse(&format!("postgres://h/ehr?sslmode={mode}"))
                .err()
                .unwrap();
            assert!(matches!(e, PgUrlError::SilentFallback(_)), "{e}");
        }
        let e = parse("host=h sslmode=require").err().unwrap();
        assert!(matches!(e, PgUrlError::NotAUrl), "{e}");
        let e = parse("postgres://h/ehr?sslmode=maybe").err().unwrap();
        assert!(e.to_string().contains("not one of"), "{e}");
        let e = parse("postgres://h/ehr?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
