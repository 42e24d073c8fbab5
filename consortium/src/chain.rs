//! The chain: four hospitals' validators on real CometBFT (each `cometbft`
//! with its own `ehr-node start` over a Unix socket), or, when asked for a
//! quick look, `ehr-node dev`, the single dev sequencer, which is not
//! Byzantine fault tolerant and says so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ehr_ledger::crypto::SecretKey;
use ehr_testkit::cometbft::{Member, Network, RpcTls, Settings};
use ehr_testkit::pki::Pki;
use ehr_testkit::processes::Proc;
use ehr_testkit::sites::Sites;

pub const HOSPITALS: [(&str, &str); 4] = [
    ("general", "General Hospital"),
    ("north", "North Clinic"),
    ("south", "South Medical Centre"),
    ("east", "East Children's Hospital"),
];

/// Which consensus engine runs the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Four CometBFT validators, one per hospital.
    Cometbft,
    /// The dev sequencer: one process, not Byzantine fault tolerant.
    Dev,
}

pub struct Chain {
    pub rpc_url: String,
    /// What runs, in a sentence for the user.
    pub description: String,
    pub dev: bool,
    /// The data folder of the first node (the dev sequencer's home).
    pub home: PathBuf,
    /// The genesis file, for clients that verify headers from it.
    pub genesis: PathBuf,
    /// The hospitals' sites and the links between them (CometBFT only).
    pub sites: Option<Arc<Sites>>,
    kind: Kind,
}

enum Kind {
    Dev(Proc),
    Cometbft(Network),
}

fn run(cmd: &mut Command, what: &str) -> Result<(), crate::Error> {
    let out = cmd.output().map_err(|source| crate::Error::Io {
        what: what.into(),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(crate::Error::Command {
            what: what.into(),
            output: String::from_utf8_lossy(&out.stderr).trim().into(),
        })
    }
}

fn member_args(admins: &[SecretKey]) -> Vec<String> {
    members(admins)
        .into_iter()
        .flat_map(|m| {
            [
                "--member".to_string(),
                format!("{}={}={}", m.id, m.name, m.admin_public_key),
            ]
        })
        .collect()
}

fn members(admins: &[SecretKey]) -> Vec<Member> {
    HOSPITALS
        .iter()
        .zip(admins)
        .map(|((id, name), k)| Member {
            id: id.to_string(),
            name: name.to_string(),
            admin_public_key: hex::encode(k.public_key().to_bytes()),
        })
        .collect()
}

impl Chain {
    /// Starts the chain with the four hospitals as founding members, `admins`
    /// their admin keys (in the order of `HOSPITALS`).
    /// The RPC serves HTTPS with certificates of `pki`, plaintext without.
    pub fn start(
        dir: &Path,
        admins: &[SecretKey],
        engine: Engine,
        pki: Option<&Arc<Pki>>,
    ) -> Result<Chain, crate::Error> {
        match engine {
            Engine::Cometbft => Self::start_cometbft(dir, admins, pki),
            Engine::Dev => Self::start_dev(dir, admins, pki),
        }
    }

    fn start_dev(
        dir: &Path,
        admins: &[SecretKey],
        pki: Option<&Arc<Pki>>,
    ) -> Result<Chain, crate::Error> {
        let ehr_node = ehr_testkit::binary("ehr-node")?;
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
            ])
            .args(crate::services::tls_args(pki.map(|p| &**p), "dev-node")?);
        let mut proc = Proc::spawn("chain", cmd, dir)?;
        let rpc_url = proc.announced("serving RPC at ", Duration::from_secs(60))?;
        Ok(Chain {
            rpc_url,
            description: "the dev sequencer `ehr-node dev` orders the blocks (--chain dev) — one process, NOT Byzantine fault tolerant; the ledger, its rules and its proofs are the real ones".into(),
            dev: true,
            home,
            genesis,
            sites: None,
            kind: Kind::Dev(proc),
        })
    }

    fn start_cometbft(
        dir: &Path,
        admins: &[SecretKey],
        pki: Option<&Arc<Pki>>,
    ) -> Result<Chain, crate::Error> {
        // Each hospital at a site of its own: a network namespace where the
        // machine allows, the wide-area links between them through Toxiproxy.
        let ids: Vec<&str> = HOSPITALS.iter().map(|(id, _)| *id).collect();
        let sites = Arc::new(Sites::create(&dir.join("sites"), &ids)?);
        let settings = Settings {
            sites: Some(sites.clone()),
            timeout_commit: Duration::from_millis(500),
            chain_id: Some("ehr-local".into()),
            rpc_tls: match pki {
                Some(pki) => RpcTls::Authority(pki.clone()),
                None => RpcTls::Plaintext,
            },
            ..Settings::default()
        };
        let network = Network::start(dir, &members(admins), settings)?;
        let first = &network.nodes[0];
        let rpc_url = first.rpc_url();
        let placement = if sites.isolated {
            "each hospital at a site of its own (a network namespace), linked to the others only through Toxiproxy"
        } else {
            "the hospitals on this machine's loopback (no network namespaces here), linked only through Toxiproxy"
        };
        Ok(Chain {
            sites: Some(sites.clone()),
            description: format!(
                "four validators on CometBFT {}, one per hospital, each with its own ehr-node over a Unix socket; {placement}; RPC of General's at {rpc_url}",
                ehr_testkit::cometbft::VERSION
            ),
            rpc_url,
            dev: false,
            home: first.home.clone(),
            genesis: network.genesis.clone(),
            kind: Kind::Cometbft(network),
        })
    }

    /// Stops every node, CometBFT before its application.
    pub fn stop(&mut self) {
        match &mut self.kind {
            Kind::Dev(p) => {
                p.stop(Duration::from_secs(10));
            }
            Kind::Cometbft(n) => n.stop(),
        }
    }

    /// The validators, when the chain is CometBFT's.
    pub fn network(&self) -> Option<&Network> {
        match &self.kind {
            Kind::Cometbft(n) => Some(n),
            Kind::Dev(_) => None,
        }
    }

    pub fn network_mut(&mut self) -> Option<&mut Network> {
        match &mut self.kind {
            Kind::Cometbft(n) => Some(n),
            Kind::Dev(_) => None,
        }
    }

    pub fn pids(&self) -> Vec<u32> {
        match &self.kind {
            Kind::Dev(p) => vec![p.pid()],
            Kind::Cometbft(n) => n.pids(),
        }
    }
}
