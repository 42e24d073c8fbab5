//! `ehr-ingest` as a real process, with its own least-privilege log-in.

use super::*;

pub struct Ingest {
    proc: Proc,
    pub metrics: String,
}

pub const PSEUDONYM_SECRET: &str =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

impl Ingest {
    pub fn start(
        dir: &Path,
        broker: &Broker,
        db: &TestDatabase,
        chain: &dyn Endpoint,
        service: &SecretKey,
    ) -> Ingest {
        Self::start_with(dir, broker, db, chain, service, &[])
    }

    /// With the chain's answers cached for `cache_seconds`.
    pub fn start_caching(
        dir: &Path,
        broker: &Broker,
        db: &TestDatabase,
        chain: &dyn Endpoint,
        service: &SecretKey,
        cache_seconds: u64,
    ) -> Ingest {
        Self::start_with(
            dir,
            broker,
            db,
            chain,
            service,
            &["--cache-seconds", &cache_seconds.to_string()],
        )
    }

    /// With more command-line arguments (batches of 50 or 100 ms and
    /// `--cache-seconds` 1 unless given).
    pub fn start_with(
        dir: &Path,
        broker: &Broker,
        db: &TestDatabase,
        chain: &dyn Endpoint,
        service: &SecretKey,
        more: &[&str],
    ) -> Ingest {
        let key_file = dir.join("ingest-key.json");
        ehr_client::service::write_private_file(
            &key_file,
            serde_json::json!({ "secret_key": hex::encode(service.to_bytes()) })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let secret_file = dir.join("pseudonym.secret");
        ehr_client::service::write_private_file(&secret_file, PSEUDONYM_SECRET.as_bytes()).unwrap();
        let mut cmd = Command::new(binary("ehr-ingest"));
        // Its own least-privilege log-in, from the environment (a password
        // on the command line is visible to every local user).
        cmd.env("DATABASE_URL", &db.logins.ingest).args([
            "--brokers",
            &broker.address,
            "--node",
            chain.url(),
            "--key-file",
            key_file.to_str().unwrap(),
            "--pseudonym-secret-file",
            secret_file.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
        ]);
        // Small batches and a short cache unless the test says otherwise.
        for (flag, value) in [
            ("--batch-size", "50"),
            ("--batch-ms", "100"),
            ("--cache-seconds", "1"),
        ] {
            if !more.contains(&flag) {
                cmd.args([flag, value]);
            }
        }
        cmd.args(chain.trust_args())
            .args(service_tls("ingest"))
            .args(broker.login_args(crate::kafka::INGEST))
            // Its metrics are for the hospital's own monitoring only.
            .arg("--require-client-cert")
            .args(more);
        let mut proc = Proc::spawn("ingest", cmd, dir).unwrap_or_else(|e| panic!("{e}"));
        // It says where its metrics are (port 0: a free one).
        let metrics = proc
            .announced("metrics at ", ANNOUNCE_WITHIN)
            .unwrap_or_else(|e| panic!("{e}"));
        Ingest { proc, metrics }
    }

    /// What its `/metrics` says now.
    pub fn metrics_text(&self) -> String {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(async {
                let http = ehr_transport::process().http(Duration::from_secs(30));
                let r = http.get(&self.metrics).send().await;
                match r {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(e) => panic!("ingest's metrics at {} do not answer: {e}", self.metrics),
                }
            })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn memory(&self) -> Option<crate::processes::Memory> {
        self.proc.memory()
    }

    pub fn kill_9(&mut self) {
        self.proc.kill_9();
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.proc.terminate().expect("ehr-ingest can be waited for")
    }
}

pub fn shared<T>(t: T) -> Arc<T> {
    Arc::new(t)
}
