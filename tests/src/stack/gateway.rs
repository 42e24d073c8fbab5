//! `ehr-gateway` as a real process.

use super::*;

pub struct GatewayProcess {
    proc: Proc,
    pub url: String,
}

impl GatewayProcess {
    pub fn start(dir: &Path, db: &TestDatabase, node: &Node, key: &SecretKey) -> GatewayProcess {
        Self::start_with(dir, db, node, key, &[])
    }

    /// With more command-line arguments.
    pub fn start_with(
        dir: &Path,
        db: &TestDatabase,
        node: &Node,
        key: &SecretKey,
        more: &[&str],
    ) -> GatewayProcess {
        Self::start_via(dir, db, node, &node.url, key, more)
    }

    /// Serving plaintext HTTP (`--insecure-plaintext`): a baseline for the
    /// cost of TLS, never a test of the product.
    pub fn start_plaintext(
        dir: &Path,
        db: &TestDatabase,
        node: &Node,
        key: &SecretKey,
    ) -> GatewayProcess {
        std::fs::create_dir_all(dir).unwrap();
        let mut args = vec!["--insecure-plaintext".into()];
        args.extend([
            "--ca-file".into(),
            crate::pki::for_tests().ca_file.clone().into(),
        ]);
        Self::spawn(dir, db, node, &node.url, key, args, &[])
    }

    /// Asking the chain through `url` (a lying node in front of `node`, say),
    /// with `node`'s trust root.
    pub fn start_via(
        dir: &Path,
        db: &TestDatabase,
        node: &Node,
        url: &str,
        key: &SecretKey,
        more: &[&str],
    ) -> GatewayProcess {
        Self::spawn(dir, db, node, url, key, service_tls("gateway"), more)
    }

    fn spawn(
        dir: &Path,
        db: &TestDatabase,
        node: &Node,
        url: &str,
        key: &SecretKey,
        tls: Vec<std::ffi::OsString>,
        more: &[&str],
    ) -> GatewayProcess {
        let key_file = dir.join("gateway-key.json");
        ehr_client::service::write_private_file(
            &key_file,
            serde_json::json!({ "secret_key": hex::encode(key.to_bytes()) })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let mut cmd = Command::new(binary("ehr-gateway"));
        cmd.env("DATABASE_URL", &db.logins.gateway)
            .args(["--listen", "127.0.0.1:0", "--node", url])
            .args(node.trust_args())
            .arg("--key-file")
            .arg(&key_file)
            .args(["--audit-interval-ms", "100", "--connections", "8"])
            .args(tls)
            .args(more);
        let mut proc = Proc::spawn("gateway", cmd, dir).unwrap_or_else(|e| panic!("{e}"));
        let url = proc
            .announced("serving records at ", ANNOUNCE_WITHIN)
            .unwrap_or_else(|e| panic!("{e}"));
        GatewayProcess { proc, url }
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
}
