//! The chain: four hospitals' validators on real CometBFT (each `cometbft`
//! with its own `ehr-node start` over a Unix socket, on 127.0.0.1–4) when a
//! `cometbft` binary is found (CMT_BIN or PATH); otherwise `ehr-node dev`, the
//! single dev sequencer, which is not Byzantine fault tolerant and says so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ehr_ledger::crypto::SecretKey;

use crate::processes::Proc;

pub const HOSPITALS: [(&str, &str); 4] = [
    ("general", "General Hospital"),
    ("north", "North Clinic"),
    ("south", "South Medical Centre"),
    ("east", "East Children's Hospital"),
];

/// A CometBFT binary: CMT_BIN, else `cometbft` on PATH.
pub fn cometbft() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CMT_BIN")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    {
        return Some(p);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join("cometbft"))
        .find(|p| p.is_file())
}

pub struct Chain {
    pub rpc_url: String,
    /// What runs, in a sentence for the user.
    pub description: String,
    pub dev: bool,
    /// The data folder of the first node (the dev sequencer's home).
    pub home: PathBuf,
    procs: Vec<Proc>,
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn member_args(admins: &[SecretKey]) -> Vec<String> {
    HOSPITALS
        .iter()
        .zip(admins)
        .flat_map(|((id, name), k)| {
            [
                "--member".to_string(),
                format!("{id}={name}={}", hex::encode(k.public_key().to_bytes())),
            ]
        })
        .collect()
}

impl Chain {
    /// Starts the chain with the four hospitals as founding members, `admins`
    /// their admin keys (in the order of `HOSPITALS`).
    pub fn start(dir: &Path, admins: &[SecretKey]) -> Result<Chain, String> {
        match cometbft() {
            Some(cmt) => Self::start_cometbft(dir, &cmt, admins),
            None => Self::start_dev(dir, admins),
        }
    }

    fn start_dev(dir: &Path, admins: &[SecretKey]) -> Result<Chain, String> {
        let ehr_node = crate::binary("ehr-node")?;
        let genesis = dir.join("genesis.json");
        let mut cmd = Command::new(&ehr_node);
        cmd.args(["genesis", "--chain-id", "ehr-local"])
            .args(member_args(admins))
            .args(HOSPITALS.iter().flat_map(|(id, _)| {
                // The dev sequencer signs nothing with these; CometBFT would.
                let key = ehr_ledger::mock_consensus::validator_key(&format!("validator@{id}"));
                [
                    "--validator".to_string(),
                    format!("{}=10={id}", hex::encode(key)),
                ]
            }))
            .arg("--out")
            .arg(&genesis);
        run(&mut cmd, "ehr-node genesis")?;
        let home = dir.join("chain");
        let mut cmd = Command::new(&ehr_node);
        cmd.arg("dev")
            .arg("--home")
            .arg(&home)
            .arg("--genesis")
            .arg(&genesis)
            .args([
                "--rpc",
                "127.0.0.1:0",
                "--block-interval-ms",
                "250",
                "--empty-block-interval-ms",
                "1000",
            ]);
        let mut proc = Proc::spawn("chain", cmd, dir)?;
        let rpc_url = proc.announced("serving RPC at ", Duration::from_secs(60))?;
        Ok(Chain {
            rpc_url,
            description: "no cometbft binary found (CMT_BIN or PATH): the dev sequencer `ehr-node dev` orders the blocks — one process, not Byzantine fault tolerant; the ledger, its rules and its proofs are the real ones".into(),
            dev: true,
            home,
            procs: vec![proc],
        })
    }

    fn start_cometbft(dir: &Path, cmt: &Path, admins: &[SecretKey]) -> Result<Chain, String> {
        let ehr_node = crate::binary("ehr-node")?;
        let net = dir.join("net");
        run(
            Command::new(cmt)
                .args(["testnet", "--v", "4", "--o"])
                .arg(&net)
                .args([
                    "--starting-ip-address",
                    "127.0.0.1",
                    "--populate-persistent-peers",
                ]),
            "cometbft testnet",
        )?;
        let genesis = net.join("genesis.json");
        run(
            Command::new(&ehr_node)
                .arg("genesis")
                .arg("--cometbft-genesis")
                .arg(net.join("node0/config/genesis.json"))
                .args(member_args(admins))
                .arg("--out")
                .arg(&genesis),
            "ehr-node genesis",
        )?;
        let mut procs = Vec::new();
        for i in 0..4 {
            let home = net.join(format!("node{i}"));
            let ip = format!("127.0.0.{}", i + 1);
            let socket = configure_local_node(&home, &ip, &genesis)?;
            let mut app = Command::new(&ehr_node);
            app.arg("start")
                .arg("--home")
                .arg(home.join("ehr"))
                .arg("--abci")
                .arg(format!("unix://{}", socket.display()));
            let app = Proc::spawn(&format!("ehr-node-{i}"), app, dir)?;
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !socket.exists() {
                if std::time::Instant::now() > deadline {
                    return Err(format!(
                        "ehr-node {i} did not open its socket (see {})",
                        app.log.display()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let mut node = Command::new(cmt);
            node.arg("start").arg("--home").arg(&home);
            procs.push(app);
            procs.push(Proc::spawn(&format!("cometbft-{i}"), node, dir)?);
        }
        Ok(Chain {
            rpc_url: "http://127.0.0.1:26657".into(),
            description: format!(
                "four validators on CometBFT ({}), one per hospital, each with its own ehr-node over a Unix socket; RPC of General's at http://127.0.0.1:26657",
                cmt.display()
            ),
            dev: false,
            home: net.join("node0"),
            procs,
        })
    }

    /// Stops every node, CometBFT before its application.
    pub fn stop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            p.stop(Duration::from_secs(10));
        }
    }

    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}

/// Prepares node `home` of a `cometbft testnet` folder to run on `ip` of this
/// machine with the ledger's `genesis`, its application on a Unix socket in
/// `home`; the socket's path.
pub fn configure_local_node(home: &Path, ip: &str, genesis: &Path) -> Result<PathBuf, String> {
    std::fs::copy(genesis, home.join("config/genesis.json")).map_err(|e| e.to_string())?;
    let config = home.join("config/config.toml");
    let socket = home.join("abci.sock");
    for (section, key, value) in [
        ("", "proxy_app", format!("\"unix://{}\"", socket.display())),
        ("rpc", "laddr", format!("\"tcp://{ip}:26657\"")),
        ("p2p", "laddr", format!("\"tcp://{ip}:26656\"")),
        ("p2p", "allow_duplicate_ip", "true".into()),
        ("p2p", "addr_book_strict", "false".into()),
        ("consensus", "timeout_commit", "\"500ms\"".into()),
    ] {
        set_toml(&config, section, key, &value)?;
    }
    Ok(socket)
}

/// Sets `key = value` in `[section]` of a TOML file (top level: section "").
pub fn set_toml(path: &Path, section: &str, key: &str, value: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut current = String::new();
    let mut done = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let t = line.trim();
            if t.starts_with('[') && t.ends_with(']') {
                current = t.trim_matches(|c| c == '[' || c == ']').to_string();
            } else if current == section && t.split('=').next().map(str::trim) == Some(key) {
                done = true;
                return format!("{key} = {value}");
            }
            line.to_string()
        })
        .collect();
    if !done {
        return Err(format!("{} has no {key} in [{section}]", path.display()));
    }
    std::fs::write(path, lines.join("\n") + "\n").map_err(|e| e.to_string())
}
