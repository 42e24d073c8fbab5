//! go-ethereum's one-process development chain (`geth --dev`;
//! `scripts/setup.sh` installs geth into `target/engines/bin` with go
//! install): the public chain the consortium checkpoints to in tests and in
//! the main job. Its developer account, funded at genesis and held unlocked,
//! funds the members' accounts; the members sign their own transactions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::processes::Proc;
use crate::Error;

/// The geth the kit installs, or what to do to get one.
pub fn binary() -> Result<PathBuf, Error> {
    crate::installed_engine("geth", "go-ethereum's geth, with go install")
}

/// A running `geth --dev`, its JSON-RPC over HTTP on 127.0.0.1.
pub struct Geth {
    /// Behind a lock: the kit's processes are `Send`, not `Sync`.
    proc: std::sync::Mutex<Proc>,
    pub url: String,
}

impl Geth {
    /// Starts a development chain in `dir`: a block a second (`--dev.period
    /// 1`), so a transaction is mined within about a second, as on a chain
    /// that makes blocks whatever arrives.
    pub fn start(dir: &Path) -> Result<Geth, Error> {
        let bin = binary()?;
        let http = crate::free_port()?;
        let auth = crate::free_port()?;
        let data = dir.join("geth");
        let mut cmd = Command::new(bin);
        cmd.arg("--dev")
            .args(["--dev.period", "1"])
            .arg("--datadir")
            .arg(&data)
            .args(["--http", "--http.addr", "127.0.0.1"])
            .args(["--http.port", &http.to_string()])
            .args(["--http.api", "eth,net,web3"])
            .args(["--authrpc.port", &auth.to_string()])
            .args([
                "--port",
                "0",
                "--nodiscover",
                "--maxpeers",
                "0",
                "--ipcdisable",
            ]);
        let mut proc = Proc::spawn_logging("geth", cmd, dir)?;
        proc.wait_for_log("HTTP server started", Duration::from_secs(60))?;
        Ok(Geth {
            proc: std::sync::Mutex::new(proc),
            url: format!("http://127.0.0.1:{http}"),
        })
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let proc = self.proc.lock().unwrap_or_else(|e| e.into_inner());
        crate::processes::tail(&proc.log, lines)
    }
}

impl Drop for Geth {
    fn drop(&mut self) {
        let proc = self.proc.get_mut().unwrap_or_else(|e| e.into_inner());
        proc.stop(Duration::from_secs(5));
    }
}
