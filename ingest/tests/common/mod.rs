//! Real parts for the ingest tests: Apache Kafka on free ports, a PostgreSQL
//! database of its own per test, the dev sequencer serving
//! CometBFT's RPC over real HTTP, and `ehr-ingest` as a real process. The
//! gateway's tests build on these too.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::ledger::genesis::CometGenesis;
use ehr_ledger::mock_consensus::consortium_genesis;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::tx::sign_tx;
use ehr_node::sequencer::{http, Config, Sequencer};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

pub const CHAIN: &str = "ehr-ingest-test";
pub const TOPIC: &str = "ehr.readings";
pub const DLQ: &str = "ehr.readings.dead-letter";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

// ---- the broker ------------------------------------------------------------

/// Apache Kafka of this test alone (its own folder and ports), with the
/// readings and dead-letter topics.
pub struct Broker {
    kafka: ehr_testkit::kafka::Kafka,
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let kafka = ehr_testkit::kafka::Kafka::start(dir.path())
            .unwrap_or_else(|e| panic!("Apache Kafka starts: {e}"));
        let broker = Broker {
            address: kafka.address.clone(),
            kafka,
            _dir: dir,
        };
        broker.create_topics(&[TOPIC, DLQ]);
        broker
    }

    pub fn create_topics(&self, names: &[&str]) {
        self.kafka
            .create_topics(names, 1)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn producer(&self) -> BaseProducer {
        producer_for(&self.address)
    }

    pub fn publish(&self, payloads: &[Vec<u8>]) {
        let p = self.producer();
        for (i, payload) in payloads.iter().enumerate() {
            let key = i.to_string();
            loop {
                match p.send(BaseRecord::to(TOPIC).payload(payload).key(&key)) {
                    Ok(()) => break,
                    Err((e, _)) => {
                        assert!(format!("{e}").contains("Queue full"), "produce: {e}");
                        p.poll(Duration::from_millis(50));
                    }
                }
            }
        }
        p.flush(Duration::from_secs(30))
            .expect("the broker confirms every reading");
    }
}

/// A producer as a device gateway runs one: it lingers a little and sends
/// many records per batch.
pub fn producer_for(address: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("linger.ms", "20")
        .set("batch.num.messages", "1000")
        .create()
        .expect("producer")
}

// ---- the database ----------------------------------------------------------

/// A database of this test alone, migrated by its owner (`url`), with a
/// least-privilege log-in per service (`logins`) that the service processes use.
pub struct Database {
    admin_url: String,
    pub name: String,
    pub url: String,
    pub logins: ehr_ingest::store::Logins,
}

pub use ehr_ingest::store::{database_url as base_url, with_database};

impl Database {
    pub fn create() -> Database {
        let admin_url = base_url();
        let name = format!(
            "ehr_test_{}",
            hex::encode(&SecretKey::generate().to_bytes()[..6])
        );
        let mut c = postgres::Client::connect(&admin_url, postgres::NoTls)
            .expect("PostgreSQL reachable (DATABASE_URL)");
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = with_database(&admin_url, &name);
        ehr_ingest::store::migrate(&url).expect("migrations apply");
        let logins = ehr_ingest::store::create_logins(&url).expect("service log-ins");
        Database {
            admin_url,
            name,
            url,
            logins,
        }
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.client()
            .query_one(sql, &[])
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(-1)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            // Two statements: DROP DATABASE refuses to run in a transaction.
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
            let _ = c.batch_execute(&format!(
                "DROP ROLE IF EXISTS {0}_ingest, {0}_gateway, {0}_analyst",
                self.name
            ));
        }
    }
}

// ---- the chain -------------------------------------------------------------

/// The dev sequencer in this process, serving its RPC on a real socket.
pub struct Chain {
    pub url: String,
    pub port: u16,
    pub home: PathBuf,
    runtime: Option<tokio::runtime::Runtime>,
}

/// A workspace binary, next to the test executable (`cargo test --workspace`
/// builds every package's binaries).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` (or `cargo test --workspace`) first",
        path.display()
    );
    path
}

pub fn genesis() -> CometGenesis {
    CometGenesis {
        genesis_time: "2026-01-01T00:00:00Z".into(),
        chain_id: CHAIN.into(),
        initial_height: serde_json::json!("1"),
        app_state: serde_json::to_value(consortium_genesis(&["general", "north", "south", "east"]))
            .unwrap(),
        rest: Default::default(),
    }
}

impl Chain {
    pub fn start(home: &Path, port: u16) -> Chain {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = Config::new(home);
        config.block_interval = Duration::from_millis(100);
        config.empty_block_interval = Duration::from_millis(500);
        let sequencer = Sequencer::open(config, Some(&genesis())).expect("the dev sequencer opens");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("the RPC port is free");
        // Port 0 picked a free port; a restart passes the port it had.
        let port = listener.local_addr().expect("bound").port();
        runtime.spawn(sequencer.clone().run(std::future::pending()));
        runtime.spawn(async move { axum::serve(listener, http::router(sequencer)).await });
        Chain {
            url: format!("http://127.0.0.1:{port}"),
            port,
            home: home.to_path_buf(),
            runtime: Some(runtime),
        }
    }

    /// Stops the chain (its RPC goes away); `start` on the same home resumes it.
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Submit for Chain {
    fn rpc(&self) -> RpcClient {
        RpcClient::new(&self.url)
    }
}

/// A chain the tests send transactions to and query, in process or not.
pub trait Submit {
    fn rpc(&self) -> RpcClient;

    /// Sends and waits for the block; panics if refused.
    fn send(&self, key: &SecretKey, action: Kind) {
        let rpc = self.rpc();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let nonce = rpc.next_nonce(&key.address()).await.unwrap();
            let r = rpc
                .broadcast_tx_commit(&sign_tx(key, CHAIN, nonce, action))
                .await
                .unwrap();
            assert_eq!(r.check_tx.code, 0, "{}", r.check_tx.log);
            assert_eq!(r.tx_result.code, 0, "{}", r.tx_result.log);
        });
    }

    fn query<M: prost::Message + Default>(&self, path: &str) -> Option<M> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(self.rpc().query(path)).unwrap()
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- people and devices ----------------------------------------------------

pub struct Cast {
    pub admin: SecretKey,
    pub ingest: SecretKey,
    pub doctor: SecretKey,
    pub alice: SecretKey,
    pub bob: SecretKey,
    pub hr: SecretKey,
    pub spo2: SecretKey,
}

pub fn key(seed: &str) -> SecretKey {
    SecretKey::from_seed(seed)
}

impl Cast {
    /// Registers the ingest service and a doctor, two patients (alice consents
    /// to research and grants the doctor her vitals) and a device each.
    pub fn register(chain: &impl Submit) -> Cast {
        let c = Cast {
            admin: key("admin@general"),
            ingest: key("ingest@general"),
            doctor: key("doctor@general"),
            alice: key("alice"),
            bob: key("bob"),
            hr: key("device hr-1"),
            spo2: key("device spo2-1"),
        };
        let pk = |k: &SecretKey| k.public_key().to_bytes().to_vec();
        chain.send(
            &c.admin,
            Kind::RegisterService(RegisterService {
                public_key: pk(&c.ingest),
                kind: ServiceKind::Ingest as i32,
            }),
        );
        chain.send(
            &c.admin,
            Kind::RegisterStaff(RegisterStaff {
                public_key: pk(&c.doctor),
                role: Role::Doctor as i32,
            }),
        );
        chain.send(
            &c.admin,
            Kind::EnrollPatient(EnrollPatient {
                public_keys: vec![pk(&c.alice), pk(&c.bob)],
            }),
        );
        for p in [&c.alice, &c.bob] {
            chain.send(p, Kind::RegisterPatient(RegisterPatient::default()));
        }
        chain.send(
            &c.alice,
            Kind::SetResearchConsent(SetResearchConsent {
                patient: c.alice.address().0.to_vec(),
                consent: true,
            }),
        );
        chain.send(
            &c.alice,
            Kind::GrantAccess(GrantAccess {
                patient: c.alice.address().0.to_vec(),
                grantee: Some(Grantee {
                    kind: Some(grantee::Kind::Clinician(c.doctor.address().0.to_vec())),
                }),
                categories: vec![Category::Vitals as i32],
                access: AccessLevel::Read as i32,
                expires_at: 4_102_444_800,
            }),
        );
        chain.send(
            &c.alice,
            Kind::BindDevice(BindDevice {
                device_id: "hr-1".into(),
                public_key: pk(&c.hr),
                patient: c.alice.address().0.to_vec(),
            }),
        );
        chain.send(
            &c.bob,
            Kind::BindDevice(BindDevice {
                device_id: "spo2-1".into(),
                public_key: pk(&c.spo2),
                patient: c.bob.address().0.to_vec(),
            }),
        );
        c
    }
}

pub use ehr_client::service::now_ms;

pub fn heart_rate(seq: u64, value: f64) -> Reading {
    Reading {
        device_id: "hr-1".into(),
        seq,
        measured_at_ms: now_ms() - 1000,
        loinc: "8867-4".into(),
        value,
        unit: "/min".into(),
    }
}

pub fn spo2(seq: u64, value: f64) -> Reading {
    Reading {
        device_id: "spo2-1".into(),
        seq,
        measured_at_ms: now_ms() - 1000,
        loinc: "59408-5".into(),
        value,
        unit: "%".into(),
    }
}

// ---- the service -----------------------------------------------------------

pub struct Ingest {
    child: Child,
    pub metrics: String,
}

pub const PSEUDONYM_SECRET: &str =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

impl Ingest {
    pub fn start(
        dir: &Path,
        broker: &Broker,
        db: &Database,
        chain_url: &str,
        service: &SecretKey,
    ) -> Ingest {
        Self::start_with(dir, broker, db, chain_url, service, &[])
    }

    /// With the chain's answers cached for `cache_seconds`.
    pub fn start_caching(
        dir: &Path,
        broker: &Broker,
        db: &Database,
        chain_url: &str,
        service: &SecretKey,
        cache_seconds: u64,
    ) -> Ingest {
        Self::start_with(
            dir,
            broker,
            db,
            chain_url,
            service,
            &["--cache-seconds", &cache_seconds.to_string()],
        )
    }

    /// With more command-line arguments (`--cache-seconds` 1 unless given).
    pub fn start_with(
        dir: &Path,
        broker: &Broker,
        db: &Database,
        chain_url: &str,
        service: &SecretKey,
        more: &[&str],
    ) -> Ingest {
        let key_file = dir.join("ingest-key.json");
        std::fs::write(
            &key_file,
            serde_json::json!({ "secret_key": hex::encode(service.to_bytes()) }).to_string(),
        )
        .unwrap();
        let secret_file = dir.join("pseudonym.secret");
        ehr_client::service::write_private_file(&secret_file, PSEUDONYM_SECRET.as_bytes()).unwrap();
        let mut child = Command::new(binary("ehr-ingest"))
            // Its own least-privilege log-in, from the environment (a
            // password on the command line is visible to every local user).
            .env("DATABASE_URL", &db.logins.ingest)
            .args([
                "--brokers",
                &broker.address,
                "--node",
                chain_url,
                "--key-file",
                key_file.to_str().unwrap(),
                "--pseudonym-secret-file",
                secret_file.to_str().unwrap(),
                "--metrics",
                "127.0.0.1:0",
                "--batch-size",
                "50",
                "--batch-ms",
                "100",
            ])
            .args(if more.contains(&"--cache-seconds") {
                &[][..]
            } else {
                &["--cache-seconds", "1"][..]
            })
            .args(more)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("ingest.log")).unwrap())
            .spawn()
            .expect("ehr-ingest starts");
        // Its first line says where its metrics are (port 0: a free one).
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let metrics = line
            .split("metrics at http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("ehr-ingest did not start: {line:?}\n{}", log_tail(dir, 20)))
            .to_string();
        Ingest { child, metrics }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.kill_9();
    }
}

pub fn shared<T>(t: T) -> Arc<T> {
    Arc::new(t)
}
