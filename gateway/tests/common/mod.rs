//! The whole read path as real processes: Apache Kafka, PostgreSQL, `ehr-node dev`,
//! `ehr-ingest` and `ehr-gateway`, and the `ehr` CLI as a reader would run it.
//! The broker, database, ingest service and cast come from the ingest tests'
//! harness.

#![allow(dead_code)]

#[path = "../../../ingest/tests/common/mod.rs"]
mod base;

pub use base::*;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ehr_client::read_path::client::GatewayClient;
use ehr_client::rpc::RpcClient;
use ehr_ingest::reading::sign;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, *};

/// Reads a child's stdout until a line containing `marker`; returns the rest
/// of that line after the marker, and keeps draining stdout in a thread.
fn announced(child: &mut Child, marker: &str, what: &str) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "{what} did not announce itself");
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(rest) = l.split(marker).nth(1) {
                    let found = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    std::thread::spawn(move || for _ in lines.by_ref() {});
                    return found;
                }
            }
            _ => panic!("{what} exited before it was ready: {:?}", child.wait()),
        }
    }
}

// ---- the chain, as processes -------------------------------------------------

/// The chain the stack runs on: the dev sequencer, or four CometBFT
/// validators (the stack then talks to General's).
pub struct Node {
    engine: Engine,
    pub url: String,
    /// The genesis file: the trust root of the CLI's header checks.
    pub genesis: PathBuf,
}

enum Engine {
    Dev(Child),
    Cometbft(ehr_testkit::cometbft::Network),
}

impl Node {
    /// Four CometBFT validators of the four founding hospitals.
    pub fn start_cometbft(dir: &Path) -> Node {
        use ehr_testkit::cometbft::{Member, Network, Settings};
        let members: Vec<Member> = ["general", "north", "south", "east"]
            .iter()
            .map(|org| Member {
                id: org.to_string(),
                name: format!("{org} hospital"),
                admin_public_key: hex::encode(key(&format!("admin@{org}")).public_key().to_bytes()),
            })
            .collect();
        let settings = Settings {
            chain_id: Some(CHAIN.into()),
            ..Settings::default()
        };
        let network = Network::start(dir, &members, settings)
            .unwrap_or_else(|e| panic!("the CometBFT network starts: {e}"));
        let url = network.nodes[0].rpc_url();
        let rpc = network.nodes[0].rpc();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(ehr_testkit::cometbft::wait_height(
            &rpc,
            2,
            Duration::from_secs(120),
        ))
        .unwrap_or_else(|e| panic!("{e}\n{}", network.nodes[0].log_tail(20)));
        Node {
            url,
            genesis: network.genesis.clone(),
            engine: Engine::Cometbft(network),
        }
    }

    pub fn start(home: &Path) -> Node {
        std::fs::create_dir_all(home).unwrap();
        let genesis = home.join("genesis.json");
        std::fs::write(&genesis, serde_json::to_vec(&base::genesis()).unwrap()).unwrap();
        let mut child = Command::new(binary("ehr-node"))
            .args(["dev", "--home"])
            .arg(home.join("data"))
            .arg("--genesis")
            .arg(&genesis)
            .args([
                "--rpc",
                "127.0.0.1:0",
                "--block-interval-ms",
                "100",
                "--empty-block-interval-ms",
                "300",
            ])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(home.join("node.log")).unwrap())
            .spawn()
            .expect("ehr-node dev starts");
        let url = announced(&mut child, "serving RPC at ", "ehr-node dev");
        Node {
            engine: Engine::Dev(child),
            url,
            genesis,
        }
    }
}

impl Submit for Node {
    fn rpc(&self) -> RpcClient {
        RpcClient::new(&self.url)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        match &mut self.engine {
            Engine::Dev(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Engine::Cometbft(network) => network.stop(),
        }
    }
}

// ---- the gateway ----------------------------------------------------------

pub struct GatewayProcess {
    child: Child,
    pub url: String,
}

impl GatewayProcess {
    pub fn start(dir: &Path, db: &Database, node: &str, key: &SecretKey) -> GatewayProcess {
        Self::start_with(dir, db, node, key, &[])
    }

    /// With more command-line arguments.
    pub fn start_with(
        dir: &Path,
        db: &Database,
        node: &str,
        key: &SecretKey,
        more: &[&str],
    ) -> GatewayProcess {
        let key_file = dir.join("gateway-key.json");
        std::fs::write(
            &key_file,
            serde_json::json!({ "secret_key": hex::encode(key.to_bytes()) }).to_string(),
        )
        .unwrap();
        let mut child = Command::new(binary("ehr-gateway"))
            .env("DATABASE_URL", &db.logins.gateway)
            .args(["--listen", "127.0.0.1:0", "--node", node])
            .arg("--key-file")
            .arg(&key_file)
            .args(["--audit-interval-ms", "100", "--connections", "8"])
            .args(more)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("gateway.log")).unwrap())
            .spawn()
            .expect("ehr-gateway starts");
        let url = announced(&mut child, "serving records at ", "ehr-gateway");
        GatewayProcess { child, url }
    }

    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}

// ---- the stack ----------------------------------------------------------

/// Everything running, with the ingest harness's cast (admin, ingest, doctor
/// granted alice's vitals, alice, bob, devices hr-1 and spo2-1) and more
/// staff: a gateway service, a nurse and a second doctor with no grant.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub broker: Broker,
    pub db: Database,
    pub node: Node,
    pub cast: Cast,
    pub gateway_key: SecretKey,
    pub nurse: SecretKey,
    pub doctor2: SecretKey,
    pub ingest: Ingest,
    pub gateway: GatewayProcess,
    pub runtime: tokio::runtime::Runtime,
    next_seq: std::cell::Cell<u64>,
}

pub fn pk(k: &SecretKey) -> Vec<u8> {
    k.public_key().to_bytes().to_vec()
}

impl Stack {
    /// On the dev sequencer.
    pub fn start() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(&dir.path().join("node"));
        Self::start_on(dir, node, &[])
    }

    /// On the dev sequencer, with a gateway that stops serving when its
    /// disclosures wait more than `secs` for the chain.
    pub fn start_with_audit_lag(secs: u64) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(&dir.path().join("node"));
        Self::start_on(dir, node, &["--audit-lag-limit-secs", &secs.to_string()])
    }

    /// On four CometBFT validators.
    pub fn start_on_cometbft() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start_cometbft(dir.path());
        Self::start_on(dir, node, &[])
    }

    fn start_on(dir: tempfile::TempDir, node: Node, gateway_args: &[&str]) -> Stack {
        let broker = Broker::start();
        let db = Database::create();
        let cast = Cast::register(&node);
        let gateway_key = key("gateway@general");
        let nurse = key("nurse@general");
        let doctor2 = key("doctor2@general");
        node.send(
            &cast.admin,
            Kind::RegisterService(RegisterService {
                public_key: pk(&gateway_key),
                kind: ServiceKind::Gateway as i32,
            }),
        );
        for (k, role) in [(&nurse, Role::Nurse), (&doctor2, Role::Doctor)] {
            node.send(
                &cast.admin,
                Kind::RegisterStaff(RegisterStaff {
                    public_key: pk(k),
                    role: role as i32,
                }),
            );
        }
        let ingest = Ingest::start(dir.path(), &broker, &db, &node.url, &cast.ingest);
        let gateway =
            GatewayProcess::start_with(dir.path(), &db, &node.url, &gateway_key, gateway_args);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stack = Stack {
            dir,
            broker,
            db,
            node,
            cast,
            gateway_key,
            nurse,
            doctor2,
            ingest,
            gateway,
            runtime,
            next_seq: std::cell::Cell::new(1),
        };
        for (name, k) in [
            ("alice", &stack.cast.alice),
            ("bob", &stack.cast.bob),
            ("doctor", &stack.cast.doctor),
            ("doctor2", &stack.doctor2),
            ("nurse", &stack.nurse),
        ] {
            stack.import_key(name, k);
        }
        stack
    }

    pub fn import_key(&self, name: &str, k: &SecretKey) {
        let mut child = self
            .ehr_command(&["keys", "import", name, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(hex::encode(k.to_bytes()).as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "ehr keys import {name}");
    }

    fn ehr_command(&self, args: &[&str]) -> Command {
        self.ehr_command_via(&self.node.url, args)
    }

    fn ehr_command_via(&self, node: &str, args: &[&str]) -> Command {
        let mut c = Command::new(binary("ehr"));
        c.arg("--home")
            .arg(self.dir.path().join("ehr"))
            .args(["--node", node, "--gateway", &self.gateway.url])
            .arg("--genesis")
            .arg(&self.node.genesis)
            .args(args);
        c
    }

    /// Runs the `ehr` CLI; its output.
    pub fn ehr(&self, args: &[&str]) -> Output {
        self.ehr_command(args).output().expect("ehr runs")
    }

    /// Runs the `ehr` CLI against the chain's RPC at `node`.
    pub fn ehr_via(&self, node: &str, args: &[&str]) -> Output {
        self.ehr_command_via(node, args).output().expect("ehr runs")
    }

    /// Publishes `n` heart-rate readings of alice's device and waits until they
    /// are stored and anchored. Returns their record ids.
    pub fn alice_heart_rates(&self, n: u64) -> Vec<String> {
        let first = self.next_seq.get();
        self.next_seq.set(first + n);
        let payloads: Vec<Vec<u8>> = (first..first + n)
            .map(|s| sign(&heart_rate(s, 60.0 + (s % 100) as f64), &self.cast.hr))
            .collect();
        self.broker.publish(&payloads);
        let last = first + n - 1;
        let anchored = format!(
            "SELECT count(*) FROM ingest.records r JOIN ingest.batches b USING (batch_id)
             WHERE r.device_id = 'hr-1' AND r.device_seq BETWEEN {first} AND {last} AND b.status = 'committed'"
        );
        wait_for(
            "readings stored and anchored",
            Duration::from_secs(60),
            || self.db.count(&anchored) == n as i64,
        );
        (first..=last).map(|s| format!("hr-1:{s}")).collect()
    }

    pub fn client(&self, k: &SecretKey) -> GatewayClient {
        GatewayClient::new(&self.gateway.url, k.clone())
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Waits until every disclosure the gateway served is on chain.
    pub fn disclosures_logged(&self) {
        wait_for(
            "disclosures logged on chain",
            Duration::from_secs(30),
            || {
                self.db
                    .count("SELECT count(*) FROM gateway.disclosures WHERE status <> 'committed'")
                    == 0
            },
        );
    }

    pub fn audit_trail(&self, patient: &SecretKey) -> AuditTrail {
        self.node
            .query(&format!("/audit/{}", patient.address()))
            .unwrap_or_default()
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
