//! The consortium's services, run by General Hospital: `ehr-ingest` (Kafka →
//! verify → encrypt → PostgreSQL → anchors) and `ehr-gateway` (the read path).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ehr_client::keyring::Keyring;
use ehr_ledger::crypto::SecretKey;

use ehr_testkit::pki::Pki;
use ehr_testkit::processes::Proc;

/// How a service the run starts serves and trusts: a certificate of the
/// run's authority, or plaintext when the run was started with
/// `--insecure-plaintext`.
pub fn tls_args(pki: Option<&Pki>, name: &str) -> Result<Vec<std::ffi::OsString>, crate::Error> {
    Ok(match pki {
        Some(pki) => pki.service_args(name)?,
        None => vec!["--insecure-plaintext".into()],
    })
}

/// A service's key file (the keyring's format, readable by the owner only),
/// in `<dir>/services/keys/`.
fn key_file(dir: &Path, name: &str, key: &SecretKey) -> Result<std::path::PathBuf, crate::Error> {
    let keyring = Keyring::new(&dir.join("services"));
    keyring.save(name, key)?;
    Ok(keyring.path(name))
}

/// The ingest service's pseudonym secret, fresh for this run, in a file only
/// this user may read (never on a command line).
fn secret_file(dir: &Path, secret: &[u8]) -> Result<std::path::PathBuf, crate::Error> {
    let path = dir.join("services").join("pseudonym.secret");
    std::fs::create_dir_all(dir.join("services")).map_err(|source| crate::Error::Io {
        what: format!("cannot create {}", dir.join("services").display()),
        source,
    })?;
    ehr_client::service::write_private_file(&path, hex::encode(secret).as_bytes())?;
    Ok(path)
}

/// How ingest's links are secured: its certificate (None: plaintext) and
/// its Kafka login (`Kafka::login_args`).
pub struct IngestLinks<'a> {
    pub pki: Option<&'a Pki>,
    pub kafka_login: &'a [std::ffi::OsString],
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
    genesis: Option<&Path>,
    key: &SecretKey,
    links: &IngestLinks<'_>,
) -> Result<Ingest, crate::Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(crate::Error::Random)?;
    let mut cmd = Command::new(ehr_testkit::binary("ehr-ingest")?);
    // Its own least-privilege log-in, from the environment: a password on
    // the command line is visible to every local user.
    cmd.env("DATABASE_URL", database_url)
        .args(["--brokers", brokers, "--node", node])
        .args(trust_args(genesis))
        .arg("--key-file")
        .arg(key_file(dir, "ingest", key)?)
        .arg("--pseudonym-secret-file")
        .arg(secret_file(dir, &secret)?)
        .args([
            "--metrics",
            "127.0.0.1:0",
            "--batch-size",
            "4000",
            "--batch-ms",
            "250",
        ])
        .args(tls_args(links.pki, "ingest")?)
        .args(links.kafka_login)
        // Its metrics are for the hospital's own monitoring only.
        .args(links.pki.map(|_| "--require-client-cert"));
    let mut proc = Proc::spawn("ingest", cmd, dir)?;
    let metrics = proc.announced("metrics at ", Duration::from_secs(60))?;
    Ok(Ingest { proc, metrics })
}

/// A service's trust root: the consortium's genesis file under CometBFT;
/// without one, the dev sequencer this run started, trusted by that choice.
pub fn trust_args(genesis: Option<&Path>) -> Vec<std::ffi::OsString> {
    match genesis {
        Some(g) => vec!["--genesis".into(), g.into()],
        None => vec!["--trust-dev-sequencer".into()],
    }
}

pub struct Gateway {
    pub proc: Proc,
    pub url: String,
}

/// `ehr-gateway`, serving the built web portal too when `portal` is given.
pub fn start_gateway(
    dir: &Path,
    database_url: &str,
    node: &str,
    genesis: Option<&Path>,
    key: &SecretKey,
    portal: Option<&Path>,
    pki: Option<&Pki>,
) -> Result<Gateway, crate::Error> {
    let mut cmd = Command::new(ehr_testkit::binary("ehr-gateway")?);
    cmd.env("DATABASE_URL", database_url)
        .args(["--listen", "127.0.0.1:0", "--node", node])
        .args(trust_args(genesis))
        .arg("--key-file")
        .arg(key_file(dir, "gateway", key)?)
        .args(tls_args(pki, "gateway")?);
    if let Some(portal) = portal {
        // The run's demo log-in links (portal-logins.txt) work on this gateway.
        cmd.arg("--portal-dir")
            .arg(portal)
            .arg("--portal-demo-logins");
    }
    let mut proc = Proc::spawn("gateway", cmd, dir)?;
    let url = proc.announced("serving records at ", Duration::from_secs(60))?;
    Ok(Gateway { proc, url })
}

/// `<run>/portal-logins.txt` (readable by its owner only): log-in links of
/// the story's first patient, its doctor and its emergency doctor. The key
/// rides in the link's fragment, which a browser never sends to a server;
/// the page takes it and keeps it in memory only. A demonstration's keys,
/// made for this run.
pub fn write_portal_logins(
    dir: &Path,
    portal_url: &str,
    cast: &crate::story::Cast,
) -> Result<PathBuf, crate::Error> {
    let path = dir.join("portal-logins.txt");
    let mut text = String::from(
        "Demo log-ins of this run: open a link to be logged in to the portal as that person\n\
         (the key stays in the page and is not stored; to keep it in a browser, paste the\n\
         64 hex digits after #login= into the key screen and choose a passphrase).\n",
    );
    for (who, key) in [
        ("patient-1", &cast.patients[0]),
        ("doctor", &cast.doctor),
        ("er-doctor", &cast.er_doctor),
    ] {
        text.push_str(&format!(
            "{who:<10} {portal_url}#login={}  (address {})\n",
            hex::encode(key.to_bytes()),
            key.address()
        ));
    }
    ehr_client::service::write_private_file(&path, text.as_bytes())?;
    Ok(path)
}
