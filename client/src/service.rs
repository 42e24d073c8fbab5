//! What every long-running ehr-ledger process shares: its logging, its stop
//! signal, and reading its key file.

use std::path::Path;

use ehr_ledger::crypto::SecretKey;

/// Logs to standard error, `RUST_LOG` (default info), JSON lines with `json`;
/// colours only on a terminal, so that log files stay plain text.
pub fn init_logging(json: bool) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
    tracing::info!("shutting down");
}

/// The wall clock in unix milliseconds (services' clocks: request windows,
/// measurement plausibility, progress), never used in state transitions.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Writes `contents` to a file only its owner may read or write (a secret,
/// or a login with its password).
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    ehr_transport::write_private(path, contents).map_err(|source| FileError::Write {
        path: path.into(),
        source,
    })
}

/// Why a private file (a key, a secret) cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the {what} file {}: {source}", path.display())]
    Read {
        what: String,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{} is readable by others; run chmod 600 on it", .0.display())]
    Exposed(std::path::PathBuf),
    #[error("the {what} is needed: put it (64+ hex digits) in a file only this user may read and pass --{}-file, or set {env}; there is no default", what.replace(' ', "-"))]
    SecretMissing { what: String, env: String },
    #[error("the {what} in {origin} {problem}")]
    SecretInvalid {
        what: String,
        origin: String,
        problem: &'static str,
    },
}

/// A secret of at least 32 bytes (hex), from `file` — which only its owner
/// may read — or else from the environment variable `env`; never from the
/// command line, which every local user sees in the process list. There is
/// no default: `what` names it in the refusal.
pub fn read_secret(file: Option<&Path>, env: &str, what: &str) -> Result<Vec<u8>, FileError> {
    let unreadable = |source| FileError::Read {
        what: what.into(),
        path: file.map(Path::to_path_buf).unwrap_or_default(),
        source,
    };
    let (text, origin) = match file {
        Some(path) => {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path).map_err(unreadable)?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(FileError::Exposed(path.into()));
            }
            let text = std::fs::read_to_string(path).map_err(unreadable)?;
            (text, path.display().to_string())
        }
        None => match std::env::var(env) {
            Ok(v) => (v, env.to_string()),
            Err(_) => {
                return Err(FileError::SecretMissing {
                    what: what.into(),
                    env: env.into(),
                })
            }
        },
    };
    let invalid = |problem| FileError::SecretInvalid {
        what: what.into(),
        origin: origin.clone(),
        problem,
    };
    let bytes = hex::decode(text.trim()).map_err(|_| invalid("is not hex"))?;
    if bytes.len() < 32 {
        return Err(invalid("must be at least 32 bytes (64 hex digits)"));
    }
    Ok(bytes)
}

/// Why a key file does not give a secret key.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the key file {}: {source}", path.display())]
    Unreadable {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a key file: {reason}", path.display())]
    NotAKeyFile {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("{}: the secret key is {problem}", path.display())]
    BadKey {
        path: std::path::PathBuf,
        problem: &'static str,
    },
    #[error("the key file {} is readable by others: a key anyone on this machine can read speaks for the service; run chmod 600 on it", .0.display())]
    Exposed(std::path::PathBuf),
}

/// Reads the secret key of a key file as `ehr keys generate` writes it
/// (JSON with `secret_key`, 64 hex digits), refusing a file that others than
/// its owner may read (as ssh does).
pub fn read_key_file(path: &Path) -> Result<SecretKey, KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let unreadable = |source| KeyFileError::Unreadable {
        path: path.into(),
        source,
    };
    let mode = std::fs::metadata(path)
        .map_err(unreadable)?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Exposed(path.into()));
    }
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    let not_a_key_file = |reason: String| KeyFileError::NotAKeyFile {
        path: path.into(),
        reason,
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not_a_key_file(e.to_string()))?;
    let hex_key = v["secret_key"]
        .as_str()
        .ok_or_else(|| not_a_key_file("no secret_key".into()))?;
    let bad_key = |problem| KeyFileError::BadKey {
        path: path.into(),
        problem,
    };
    let bytes = hex::decode(hex_key).map_err(|_| bad_key("not hex"))?;
    SecretKey::from_bytes(&bytes).ok_or_else(|| bad_key("not a valid secp256k1 key"))
}
