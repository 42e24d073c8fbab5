//! The project's test kit, used by every crate's tests, the benchmarks and
//! the main job:
//!
//! - `world`: a four-hospital consortium driven by the mock consensus, and a
//!   deterministic workload over it; `actions`: one constructor per action.
//! - with the `engines` feature (default): the real parts — Apache Kafka from
//!   its jars (`kafka`), a network of CometBFT validators each beside its own
//!   `ehr-node` (`cometbft`), and the child processes they are (`processes`).
//!   Both engines are installed by `scripts/setup.sh` into `target/engines`.
//!   `fhir`: HAPI FHIR's validator and generic client, the judges of the
//!   FHIR the project emits. `ethereum`: go-ethereum's development chain,
//!   the public chain the consortium checkpoints to. `pki`: the certificates every link's TLS uses. `postgres`: a private
//!   PostgreSQL server, for tests (and runs) that restart it.
//!   `sites`: hospitals as separate hosts — a network namespace each, the
//!   wide-area links between them through Toxiproxy, to slow and cut.
//!   `stack`: the off-chain stack of one test — broker, database, chain,
//!   ingest and gateway as real processes, the cast and their devices.
//!
//! The cross-process tests of the consortium on those engines live in this
//! crate's `tests/`, one scenario per file.

pub mod actions;
#[cfg(feature = "engines")]
pub mod cometbft;
#[cfg(feature = "engines")]
pub mod ethereum;
#[cfg(feature = "engines")]
pub mod fhir;
#[cfg(feature = "engines")]
pub mod kafka;
#[cfg(feature = "engines")]
pub mod pki;
#[cfg(feature = "engines")]
pub mod postgres;
#[cfg(feature = "engines")]
pub mod processes;
#[cfg(feature = "engines")]
pub mod sites;
#[cfg(feature = "engines")]
pub mod stack;
pub mod world;

use std::path::PathBuf;

/// Why a part could not be set up or started, in a sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.0
    }
}

/// Where the workspace's binaries are: beside the running one (or, for a
/// test executable in `target/<profile>/deps`, one folder up).
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
pub fn binary(name: &str) -> Result<PathBuf, Error> {
    let path = bin_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error(format!(
            "{} is not built: run `cargo build --workspace --bins` (scripts/run.sh and scripts/test.sh do)",
            path.display()
        )))
    }
}

/// Where `scripts/setup.sh` installs the engines: `EHR_ENGINES`, else
/// `target/engines` beside the binaries' profile folder.
pub fn engines_dir() -> PathBuf {
    std::env::var_os("EHR_ENGINES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let profile = bin_dir();
            profile
                .parent()
                .map(|target| target.join("engines"))
                .unwrap_or(profile)
        })
}

/// An engine `scripts/setup.sh` installs into `target/engines/bin`
/// (`file`), or what to do to get it (`what`: the engine, as setup names it).
pub fn installed_engine(file: &str, what: &str) -> Result<PathBuf, Error> {
    let installed = engines_dir().join("bin").join(file);
    if installed.is_file() {
        Ok(installed)
    } else {
        Err(Error(format!(
            "no {}: run scripts/setup.sh (it installs {what} there)",
            installed.display()
        )))
    }
}

/// A free TCP port on 127.0.0.1, for a process that must be told its port
/// up front (Kafka's listeners, CometBFT's peers).
///
/// Chosen below Linux's ephemeral range (32768–60999), where the kernel
/// never picks the source port of an outgoing connection: a port the kernel
/// handed out (bind to port 0) and released is soon reused as some
/// connection's source port — CometBFT's peers dial each other all the time
/// — and the process it was meant for then fails to bind. Candidates are
/// spread by process id and a counter, so parallel tests rarely try the same
/// one, and each is checked free by binding it.
pub fn free_port() -> Result<u16, Error> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761);
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + seed.wrapping_add(n.wrapping_mul(7_919)) % COUNT;
        let port = u16::try_from(port).unwrap_or(u16::MAX);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error(format!(
        "no free port on 127.0.0.1 between {FIRST} and {}",
        FIRST + COUNT
    )))
}
