//! The main job (`ehr-consortium`, started by `scripts/run.sh`): a local
//! consortium of four hospitals doing real work, every part a real process.
//!
//! - `processes`: children in their own process groups, stopped in order,
//!   killed by the kernel should the main job die.
//! - `chain`: four CometBFT validators with `ehr-node start` when a `cometbft`
//!   binary is found, else `ehr-node dev`.
//! - `broker`: the Kafka-protocol broker (tansu) and its topics.
//! - `services`: `ehr-ingest` and `ehr-gateway`.
//! - `fleet`: simulated IoMT devices publishing signed readings.
//! - `story`: the clinical story, each step with the code it must get.
//! - `progress`: the live line and the final summary's figures.

pub mod broker;
pub mod chain;
pub mod fleet;
pub mod processes;
pub mod progress;
pub mod services;
pub mod story;

use std::path::PathBuf;

/// Where the workspace's binaries are: beside this one (or, for a test
/// executable in `target/<profile>/deps`, one folder up).
pub fn bin_dir() -> PathBuf {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(PathBuf::from).unwrap_or(dir)
    } else {
        dir
    }
}

/// A binary of the workspace, or why it cannot be found.
pub fn binary(name: &str) -> Result<PathBuf, String> {
    let path = bin_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is not built: run `cargo build --release --workspace --bins` (scripts/run.sh does)",
            path.display()
        ))
    }
}

/// A free TCP port on 127.0.0.1 (for the broker, which must know its port up front).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
