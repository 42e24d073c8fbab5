//! `ehr-ingest` as a real process, with its own least-privilege log-in.

use super::*;

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
        db: &TestDatabase,
        chain_url: &str,
        service: &SecretKey,
    ) -> Ingest {
        Self::start_with(dir, broker, db, chain_url, service, &[])
    }

    /// With the chain's answers cached for `cache_seconds`.
    pub fn start_caching(
        dir: &Path,
        broker: &Broker,
        db: &TestDatabase,
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
        db: &TestDatabase,
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
