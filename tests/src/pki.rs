//! Certificates for the parts a test or the main job starts: one authority,
//! a certificate per service and hospital, all valid for the loopback
//! addresses. Tests share one authority per test process ([`for_tests`]),
//! which the process's own clients trust; the main job makes its own in its
//! run folder ([`Pki::create`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use ehr_transport::pki::{Authority, IdentityFiles};
use ehr_transport::{ClientTlsArgs, TlsArgs, Transport};

use crate::Error;

/// The hosts every certificate here names: the parts run on this machine.
const LOOPBACK: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

pub struct Pki {
    authority: Authority,
    dir: PathBuf,
    /// The authority's certificate, for `--ca-file`.
    pub ca_file: PathBuf,
    next: AtomicU32,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error(format!("cannot make the run's certificates: {e}"))
}

impl Pki {
    /// A new authority named `name`, its certificate written to `<dir>/ca.pem`.
    pub fn create(dir: &Path, name: &str) -> Result<Pki, Error> {
        std::fs::create_dir_all(dir).map_err(failed)?;
        let authority = Authority::new(name).map_err(failed)?;
        let ca_file = dir.join("ca.pem");
        authority.write_certificate(&ca_file).map_err(failed)?;
        Ok(Pki {
            authority,
            dir: dir.to_path_buf(),
            ca_file,
            next: AtomicU32::new(0),
        })
    }

    /// A certificate for `name` on this machine's loopback addresses, in
    /// files of its own.
    pub fn issue(&self, name: &str) -> Result<IdentityFiles, Error> {
        self.issue_for(name, &[])
    }

    /// The same, valid also for `hosts` (a site's address).
    pub fn issue_for(&self, name: &str, hosts: &[String]) -> Result<IdentityFiles, Error> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let names: Vec<&str> = LOOPBACK
            .iter()
            .copied()
            .chain(hosts.iter().map(String::as_str))
            .collect();
        let issued = self.authority.issue(name, &names).map_err(failed)?;
        issued
            .write(&self.dir, &format!("{name}-{n}"))
            .map_err(failed)
    }

    /// `--ca-file … --tls-cert-file … --tls-key-file …` for a service named `name`.
    pub fn service_args(&self, name: &str) -> Result<Vec<OsString>, Error> {
        let files = self.issue(name)?;
        Ok(vec![
            "--ca-file".into(),
            self.ca_file.clone().into(),
            "--tls-cert-file".into(),
            files.certificate.into(),
            "--tls-key-file".into(),
            files.key.into(),
        ])
    }

    /// A service's transport: this authority's trust, a certificate of its
    /// own, shown to clients and to servers that ask for one.
    pub fn service(&self, name: &str) -> std::io::Result<Transport> {
        let files = self.issue(name).map_err(|e| std::io::Error::other(e.0))?;
        Transport::from_args(&TlsArgs {
            client: ClientTlsArgs {
                ca_file: Some(self.ca_file.clone()),
                cert_file: Some(files.certificate),
                key_file: Some(files.key),
            },
            ..Default::default()
        })
        .map_err(|e| std::io::Error::other(e.to_string()))
    }

    /// A client that trusts this authority and shows no certificate.
    pub fn client(&self) -> Transport {
        Transport::for_client(&ClientTlsArgs {
            ca_file: Some(self.ca_file.clone()),
            ..Default::default()
        })
        .expect("the authority's own certificate reads back")
    }
}

/// The test process's authority, made on first use; the process's clients
/// (`RpcClient::new`, `GatewayClient::new`) trust it from then on.
pub fn for_tests() -> Arc<Pki> {
    static PKI: OnceLock<Arc<Pki>> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("ehr-test-pki-")
            .tempdir()
            .map(tempfile::TempDir::keep)
            .unwrap_or_else(|e| panic!("a folder for the test authority: {e}"));
        let pki = Pki::create(&dir, "ehr-ledger tests").unwrap_or_else(|e| panic!("{e}"));
        // The test's clients show a certificate of their own: listeners with
        // mutual TLS (ingest's metrics) let them in.
        let operator = pki
            .service("test-operator")
            .unwrap_or_else(|e| panic!("{e}"));
        ehr_transport::install(&operator);
        Arc::new(pki)
    })
    .clone()
}
