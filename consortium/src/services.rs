//! The consortium's services, run by General Hospital: `ehr-ingest` (Kafka →
//! verify → encrypt → PostgreSQL → anchors) and `ehr-gateway` (the read path).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ehr_ledger::crypto::SecretKey;

use crate::processes::Proc;

/// A service key file, readable by the owner only.
fn key_file(dir: &Path, name: &str, key: &SecretKey) -> Result<std::path::PathBuf, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(format!("{name}-key.json"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let json = serde_json::json!({ "secret_key": hex::encode(key.to_bytes()) });
    f.write_all(json.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(path)
}

pub struct Ingest {
    pub proc: Proc,
    pub metrics: String,
}

pub fn start_ingest(
    dir: &Path,
    brokers: &str,
    database_url: &str,
    node: &str,
    key: &SecretKey,
) -> Result<Ingest, String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness: {e}"))?;
    let mut cmd = Command::new(crate::binary("ehr-ingest")?);
    cmd.args([
        "--brokers",
        brokers,
        "--database-url",
        database_url,
        "--node",
        node,
    ])
    .arg("--key-file")
    .arg(key_file(dir, "ingest", key)?)
    .args(["--pseudonym-secret", &hex::encode(secret)])
    .args([
        "--metrics",
        "127.0.0.1:0",
        "--batch-size",
        "200",
        "--batch-ms",
        "250",
    ]);
    let mut proc = Proc::spawn("ingest", cmd, dir)?;
    let metrics = proc.announced("metrics at ", Duration::from_secs(60))?;
    Ok(Ingest { proc, metrics })
}

pub struct Gateway {
    pub proc: Proc,
    pub url: String,
}

pub fn start_gateway(
    dir: &Path,
    database_url: &str,
    node: &str,
    key: &SecretKey,
) -> Result<Gateway, String> {
    let mut cmd = Command::new(crate::binary("ehr-gateway")?);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        database_url,
        "--node",
        node,
    ])
    .arg("--key-file")
    .arg(key_file(dir, "gateway", key)?);
    let mut proc = Proc::spawn("gateway", cmd, dir)?;
    let url = proc.announced("serving records at ", Duration::from_secs(60))?;
    Ok(Gateway { proc, url })
}
