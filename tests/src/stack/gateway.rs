//! `ehr-gateway` as a real process.

use super::*;

pub struct GatewayProcess {
    child: Child,
    pub url: String,
}

impl GatewayProcess {
    pub fn start(dir: &Path, db: &TestDatabase, node: &str, key: &SecretKey) -> GatewayProcess {
        Self::start_with(dir, db, node, key, &[])
    }

    /// With more command-line arguments.
    pub fn start_with(
        dir: &Path,
        db: &TestDatabase,
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
