//! The whole off-chain stack of one test as real parts: Apache Kafka on free
//! ports (`broker`), a PostgreSQL database of its own, the dev sequencer in
//! process serving CometBFT's RPC over real HTTP (`dev_chain`), or the chain
//! as processes — `ehr-node dev` or four CometBFT validators (`node`); the
//! cast of people and devices (`cast`); `ehr-ingest` and `ehr-gateway` as
//! real processes (`ingest`, `gateway`); `ehr-fhir`, a hospital's FHIR API
//! (`fhir`); and all of it at once with the `ehr`
//! CLI as a reader runs it (`read_path`).
//!
//! The helpers panic with a sentence when a part cannot start: they serve
//! tests, where that is the failure to report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ehr_client::read_path::client::GatewayClient;
use ehr_client::readings::sign;
use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::ledger::genesis::CometGenesis;
use ehr_ledger::mock_consensus::consortium_genesis;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::tx::sign_tx;

use crate::actions::*;
use ehr_node::sequencer::{http, Config, Sequencer};

use crate::processes::Proc;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

mod broker;
mod cast;
mod dev_chain;
mod fhir;
mod gateway;
mod ingest;
mod lying_node;
mod node;
mod read_path;

pub use broker::*;
pub use cast::*;
pub use dev_chain::*;
pub use ehr_migrations::TestDatabase;
pub use fhir::*;
pub use gateway::*;
pub use ingest::*;
pub use lying_node::*;
pub use node::*;
pub use read_path::*;

/// `--ca-file`, `--tls-cert-file` and `--tls-key-file` for a service the stack
/// starts: its listener serves HTTPS with a certificate of the test
/// process's authority, which the test's clients trust.
pub fn service_tls(name: &str) -> Vec<std::ffi::OsString> {
    crate::pki::for_tests()
        .service_args(name)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A chain the services and the CLI are pointed at: its RPC, and the trust
/// root they are configured with (never guessed from what the node says).
pub trait Endpoint {
    fn url(&self) -> &str;
    fn trust_args(&self) -> Vec<std::ffi::OsString>;
}

impl Endpoint for Chain {
    fn url(&self) -> &str {
        &self.url
    }

    /// The in-process dev sequencer, trusted by explicit choice.
    fn trust_args(&self) -> Vec<std::ffi::OsString> {
        vec!["--trust-dev-sequencer".into()]
    }
}

impl Endpoint for Node {
    fn url(&self) -> &str {
        &self.url
    }

    fn trust_args(&self) -> Vec<std::ffi::OsString> {
        Node::trust_args(self)
    }
}

/// How long a process of the stack may take to say it is ready.
const ANNOUNCE_WITHIN: Duration = Duration::from_secs(60);

/// A workspace binary; panics with how to build it when it is missing.
pub fn binary(name: &str) -> PathBuf {
    crate::binary(name).unwrap_or_else(|e| panic!("{e}"))
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    crate::free_port().unwrap_or_else(|e| panic!("{e}"))
}

/// A database of this test alone (`ehr_migrations::TestDatabase`).
pub fn database() -> TestDatabase {
    TestDatabase::create().expect("a database of the test's own (PostgreSQL at DATABASE_URL)")
}

pub const CHAIN: &str = "ehr-ingest-test";
pub use ehr_client::readings::{DEAD_LETTER_TOPIC as DLQ, READINGS_TOPIC as TOPIC};

pub fn wait_for(what: &str, timeout: Duration, ok: impl FnMut() -> bool) {
    assert!(wait_until(timeout, ok), "timed out waiting for {what}");
}

pub fn wait_until(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !ok() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// The last lines of the service's log, for a failure message.
pub fn log_tail(dir: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(dir.join("ingest.log")).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Runs a browser test of the portal (`portal/e2e/<script>`, Node.js with
/// playwright-core driving Debian's Chromium) with `args`; prints its report
/// and fails the test, with that report, unless every check held.
///
/// The browser trusts the certificates `ca_file` signed, as a hospital's
/// managed browsers trust its authority (and nothing else new).
pub fn run_portal_e2e(script: &str, args: &[&std::ffi::OsStr], ca_file: &Path) {
    let out = Command::new("node")
        .current_dir(workspace_root().join("portal"))
        .arg(format!("e2e/{script}"))
        .args(args)
        .env("EHR_CA_FILE", ca_file)
        .output()
        .expect("node runs (scripts/setup.sh installs Node.js)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "the browser test {script} failed:\n{report}"
    );
}

/// The files under `dir` that hold `needle` (a scan of a node's data for
/// health data in clear).
pub fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in walkdir(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(entry.display().to_string());
        }
    }
    hits
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}
