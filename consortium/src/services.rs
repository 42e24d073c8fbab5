//! The consortium's services, run by General Hospital: `ehr-ingest` (Kafka →
//! verify → encrypt → PostgreSQL → anchors), `ehr-gateway` (the read path)
//! and `ehr-fhir` (the FHIR API for General's own systems).

use std::ffi::OsString;
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

/// How a service was started, to start it again the same way — the same
/// keys, secret and log-ins, and the port it first took (so its address
/// stays what the others were told).
pub struct Launch {
    name: &'static str,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(&'static str, String)>,
    dir: PathBuf,
    /// What it prints once it serves, before the address it serves at.
    announces: &'static str,
}

impl Launch {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the service; its process and the address it announced.
    pub fn spawn(&mut self) -> Result<(Proc, String), crate::Error> {
        let mut proc = Proc::spawn(self.name, self.command(), &self.dir)?;
        let url = proc.announced(self.announces, Duration::from_secs(60))?;
        Ok((proc, url))
    }

    /// From now on `flag`'s port 0 is the port `url` names.
    fn pin_port(&mut self, flag: &str, url: &str) {
        // https://127.0.0.1:PORT, perhaps followed by a path.
        let port: String = url
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let Some(i) = self.args.iter().position(|a| a == flag) else {
            return;
        };
        if let Some(value) = self.args.get_mut(i + 1) {
            let given = value.to_string_lossy().into_owned();
            if let (Some(host), false) = (given.strip_suffix(":0"), port.is_empty()) {
                *value = format!("{host}:{port}").into();
            }
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

pub struct Ingest {
    pub proc: Proc,
    pub metrics: String,
    pub launch: Launch,
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
    let mut cmd = Vec::<OsString>::new();
    let (key_file, secret_file) = (key_file(dir, "ingest", key)?, secret_file(dir, &secret)?);
    cmd.extend(["--brokers", brokers, "--node", node].map(OsString::from));
    cmd.extend(trust_args(genesis));
    cmd.extend(["--key-file".into(), key_file.into()]);
    cmd.extend(["--pseudonym-secret-file".into(), secret_file.into()]);
    cmd.extend(
        [
            "--metrics",
            "127.0.0.1:0",
            "--batch-size",
            "4000",
            "--batch-ms",
            "250",
        ]
        .map(OsString::from),
    );
    cmd.extend(tls_args(links.pki, "ingest")?);
    cmd.extend(links.kafka_login.iter().cloned());
    // Its metrics are for the hospital's own monitoring only.
    cmd.extend(links.pki.map(|_| "--require-client-cert".into()));
    let mut launch = Launch {
        name: "ingest",
        program: ehr_testkit::binary("ehr-ingest")?,
        args: cmd,
        // Its own least-privilege log-in, from the environment: a password on
        // the command line is visible to every local user.
        env: vec![("DATABASE_URL", database_url.to_string())],
        dir: dir.to_path_buf(),
        announces: "metrics at ",
    };
    let (proc, metrics) = launch.spawn()?;
    launch.pin_port("--metrics", &metrics);
    Ok(Ingest {
        proc,
        metrics,
        launch,
    })
}

/// A service's trust root: the consortium's genesis file under CometBFT;
/// without one, the dev sequencer this run started, trusted by that choice.
pub fn trust_args(genesis: Option<&Path>) -> Vec<std::ffi::OsString> {
    match genesis {
        Some(g) => vec!["--genesis".into(), g.into()],
        None => vec!["--trust-dev-sequencer".into()],
    }
}

/// A service that serves at a URL: the gateway, the FHIR API.
pub struct Service {
    pub proc: Proc,
    pub url: String,
    pub launch: Launch,
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
) -> Result<Service, crate::Error> {
    let mut args: Vec<OsString> = ["--listen", "127.0.0.1:0", "--node", node]
        .map(OsString::from)
        .to_vec();
    args.extend(trust_args(genesis));
    args.extend(["--key-file".into(), key_file(dir, "gateway", key)?.into()]);
    args.extend(tls_args(pki, "gateway")?);
    if let Some(portal) = portal {
        // The run's demo log-in links (portal-logins.txt) work on this gateway.
        args.extend([
            "--portal-dir".into(),
            portal.into(),
            "--portal-demo-logins".into(),
        ]);
    }
    let mut launch = Launch {
        name: "gateway",
        program: ehr_testkit::binary("ehr-gateway")?,
        args,
        env: vec![("DATABASE_URL", database_url.to_string())],
        dir: dir.to_path_buf(),
        announces: "serving records at ",
    };
    let (proc, url) = launch.spawn()?;
    // Restarted, it serves where the portal's links and the story point.
    launch.pin_port("--listen", &url);
    Ok(Service { proc, url, launch })
}

/// The certificate General's EHR shows the FHIR API, as the name its
/// `--caller` rule knows.
pub const FHIR_CALLER: &str = "general-ehr";

/// `ehr-fhir` for General's own systems, reading through `gateway` as the
/// story's doctor (his key in the run's keyring, `keys`), callers known by
/// certificates of the run's authority: `FHIR_CALLER`'s files are issued
/// into the run's `tls/` folder for the summary's example.
pub fn start_fhir(
    dir: &Path,
    gateway: &str,
    node: &str,
    genesis: Option<&Path>,
    keys: &Path,
    pki: &Pki,
) -> Result<(Service, ehr_transport::pki::IdentityFiles), crate::Error> {
    let mut args: Vec<OsString> = [
        "--listen",
        "127.0.0.1:0",
        "--node",
        node,
        "--gateway",
        gateway,
    ]
    .map(OsString::from)
    .to_vec();
    args.extend(trust_args(genesis));
    args.extend(["--keys".into(), keys.into()]);
    args.extend(["--caller".into(), format!("{FHIR_CALLER}=doctor").into()]);
    args.extend(pki.service_args("fhir")?);
    let mut launch = Launch {
        name: "fhir",
        program: ehr_testkit::binary("ehr-fhir")?,
        args,
        env: vec![],
        dir: dir.to_path_buf(),
        announces: "serving FHIR R4 at ",
    };
    let (proc, url) = launch.spawn()?;
    launch.pin_port("--listen", &url);
    let caller = pki.issue(FHIR_CALLER)?;
    Ok((Service { proc, url, launch }, caller))
}

/// `<run>/portal-logins.txt` (readable by its owner only): log-in links of
/// the story's first patient, its doctor, its emergency doctor, a doctor
/// nobody granted (to see a refusal), General's pharmacist and lab
/// technician, and patient-3's guardian. The key
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
        ("no-grant", &cast.visiting_doctor),
        ("pharmacist", &cast.pharmacist),
        ("lab", &cast.lab),
        ("guardian", &cast.guardian),
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
