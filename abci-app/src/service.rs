//! What every long-running ehr-ledger process shares: its logging, its stop
//! signal, and reading its key file.

use std::path::Path;

use crate::crypto::SecretKey;

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

/// Reads the secret key of a key file as `ehr keys generate` writes it
/// (JSON with `secret_key`, 64 hex digits).
pub fn read_key_file(path: &Path) -> Result<SecretKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a key file: {e}", path.display()))?;
    let hex_key = v["secret_key"]
        .as_str()
        .ok_or_else(|| format!("{} is not a key file: no secret_key", path.display()))?;
    let bytes = hex::decode(hex_key)
        .map_err(|_| format!("{}: the secret key is not hex", path.display()))?;
    SecretKey::from_bytes(&bytes).ok_or_else(|| {
        format!(
            "{}: the secret key is not a valid secp256k1 key",
            path.display()
        )
    })
}
