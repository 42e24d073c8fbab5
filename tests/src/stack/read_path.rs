//! The whole read path at once, and the `ehr` CLI as a reader runs it.

use super::*;

/// Everything running, with the ingest harness's cast (admin, ingest, doctor
/// granted alice's vitals, alice, bob, devices hr-1 and spo2-1) and more
/// staff: a gateway service, a nurse and a second doctor with no grant.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub broker: Broker,
    pub db: TestDatabase,
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

    /// On four CometBFT validators, each at a site of its own, with this
    /// `timeout_commit` and `flush_throttle_timeout`; the services beside
    /// General's.
    pub fn start_on_cometbft_across_sites(
        timeout_commit: Duration,
        flush_throttle: Duration,
    ) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start_cometbft_across_sites(dir.path(), timeout_commit, flush_throttle);
        Self::start_on(dir, node, &[])
    }

    /// On the dev sequencer, its database `db` (on a server of the test's
    /// own, say).
    pub fn start_with_database(db: TestDatabase) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(&dir.path().join("node"));
        Self::start_on_database(dir, node, db, &[])
    }

    fn start_on(dir: tempfile::TempDir, node: Node, gateway_args: &[&str]) -> Stack {
        Self::start_on_database(dir, node, database(), gateway_args)
    }

    fn start_on_database(
        dir: tempfile::TempDir,
        node: Node,
        db: TestDatabase,
        gateway_args: &[&str],
    ) -> Stack {
        let broker = Broker::start();
        let cast = Cast::register(&node);
        let gateway_key = key("gateway@general");
        let nurse = key("nurse@general");
        let doctor2 = key("doctor2@general");
        node.send(
            &cast.admin,
            register_service(pk(&gateway_key), ServiceKind::Gateway),
        );
        for (k, role) in [(&nurse, Role::Nurse), (&doctor2, Role::Doctor)] {
            node.send(&cast.admin, register_staff(pk(k), role));
        }
        let ingest = Ingest::start(dir.path(), &broker, &db, &node, &cast.ingest);
        let gateway =
            GatewayProcess::start_with(dir.path(), &db, &node, &gateway_key, gateway_args);
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
            .arg("--ca-file")
            .arg(&crate::pki::for_tests().ca_file)
            .args(self.node.trust_args())
            .args(args);
        c
    }

    /// Runs the `ehr` CLI; its output.
    pub fn ehr(&self, args: &[&str]) -> Output {
        self.ehr_command(args).output().expect("ehr runs")
    }

    /// `patient` erases her vitals (`ehr tx --from PATIENT erase --patient
    /// PATIENT --category vitals`), the transaction accepted.
    pub fn erase_vitals(&self, patient: &str) {
        let o = self.ehr(&[
            "tx",
            "--from",
            patient,
            "erase",
            "--patient",
            patient,
            "--category",
            "vitals",
        ]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }

    /// Runs `ehr-db close-days` as the database's owner, which succeeds; what
    /// it printed.
    pub fn close_days(&self) -> String {
        let o = std::process::Command::new(binary("ehr-db"))
            .arg("close-days")
            .env("DATABASE_URL", &self.db.url)
            .output()
            .expect("ehr-db runs");
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
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
            "SELECT count(*) FROM ingest.stored_records r JOIN ingest.batches b USING (batch_id)
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

    /// How many of alice's vitals the doctor (granted them) reads through
    /// the gateway, or its refusal's code and sentence.
    pub fn doctor_reads_alice(&self) -> Result<usize, (String, String)> {
        use ehr_client::read_path::client::RecordsQuery;
        let client = self.client(&self.cast.doctor);
        self.block_on(client.records(
            &self.cast.alice.address(),
            &RecordsQuery::category("vitals"),
        ))
        .map(|page| page.records.len())
        .map_err(|e| (e.code().unwrap_or("").to_string(), e.to_string()))
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
