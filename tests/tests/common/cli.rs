//! The `ehr` CLI and `ehr-node dev` as a user runs them: real processes,
//! their output and exit codes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn binary(name: &str) -> PathBuf {
    ehr_testkit::binary(name).unwrap_or_else(|e| panic!("{e}"))
}

pub struct Env {
    pub keys: PathBuf,
    pub node: String,
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    /// `ehr` with this key folder, node and the tests' authority, to be
    /// given its arguments (and run, or spawned as a long-lived process).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(binary("ehr"));
        cmd.env("EHR_HOME", &self.keys)
            .env("EHR_NODE", &self.node)
            .env("EHR_CA_FILE", &ehr_testkit::pki::for_tests().ca_file);
        cmd
    }

    pub fn ehr(&self, args: &[&str]) -> Out {
        let out = self.command().args(args).output().expect("ehr runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// Runs `ehr` and insists it succeeds; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ehr(args);
        assert_eq!(
            out.code, 0,
            "ehr {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    pub fn tx(&self, from: &str, args: &[&str]) -> String {
        let mut all = vec!["tx", "--from", from];
        all.extend_from_slice(args);
        self.ok(&all)
    }

    pub fn public_key(&self, name: &str) -> String {
        let shown: serde_json::Value =
            serde_json::from_str(&self.ok(&["keys", "show", name, "--json"])).unwrap();
        shown["public_key"].as_str().unwrap().to_string()
    }
}

/// The dev sequencer's process and the RPC URL it announced.
pub struct DevNode(pub Child, pub String);

impl Drop for DevNode {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_dev(home: &Path, genesis: Option<&Path>, rpc: &str) -> DevNode {
    let mut cmd = Command::new(binary("ehr-node"));
    cmd.args([
        "dev",
        "--home",
        home.to_str().unwrap(),
        "--rpc",
        rpc,
        "--block-interval-ms",
        "100",
        "--empty-block-interval-ms",
        "1000",
    ])
    .args(ehr_testkit::stack::service_tls("dev-node"));
    if let Some(g) = genesis {
        cmd.args(["--genesis", g.to_str().unwrap()]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ehr-node dev starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "ehr-node dev did not come up");
        match lines.next() {
            Some(Ok(l)) if l.contains("serving RPC at") => {
                let url = l.rsplit(' ').next().unwrap_or_default().to_string();
                return DevNode(child, url);
            }
            Some(_) => {}
            None => panic!("ehr-node dev exited: {:?}", child.wait()),
        }
    }
}
