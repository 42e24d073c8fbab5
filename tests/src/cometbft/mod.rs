//! A consortium's chain on real CometBFT v0.38: each validator is a `cometbft`
//! process beside its own `ehr-node start`, joined by a Unix socket, all on
//! 127.0.0.1 with ports of their own (so networks of parallel tests do not
//! meet). `scripts/setup.sh` installs the pinned CometBFT into
//! `target/engines/bin` with `go install`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ehr_client::rpc::RpcClient;

use crate::pki::Pki;
use crate::sites::Sites;
use crate::Error;

mod node;

pub use node::{Node, Part, RpcCertificate};

/// The CometBFT release the project installs and is tested with.
pub const VERSION: &str = "v0.38.26";

/// A CometBFT binary: `CMT_BIN`, else the one `scripts/setup.sh` installs in
/// `target/engines/bin`, else `cometbft` on PATH.
pub fn binary() -> Option<PathBuf> {
    let given = std::env::var_os("CMT_BIN").map(PathBuf::from);
    let installed = crate::engines_dir().join("bin/cometbft");
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("cometbft"))
            .find(|p| p.is_file())
    });
    given
        .into_iter()
        .chain([installed])
        .chain(on_path)
        .find(|p| p.is_file())
}

/// The CometBFT binary, or what to do to get one.
pub fn require() -> Result<PathBuf, Error> {
    binary().ok_or_else(|| {
        Error(format!(
            "no cometbft binary: run scripts/setup.sh (it installs CometBFT {VERSION} into target/engines/bin), or set CMT_BIN"
        ))
    })
}

/// A founding member organisation of the consortium.
pub struct Member {
    pub id: String,
    pub name: String,
    /// Its admin's secp256k1 public key, hex.
    pub admin_public_key: String,
}

/// What the validators are configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a validator waits after a commit for more votes and
    /// transactions before the next height.
    pub timeout_commit: Duration,
    /// The chain id (`cometbft testnet` makes up one when not given).
    pub chain_id: Option<String>,
    /// The application the validators run.
    pub app: App,
    /// Whether CometBFT re-runs CheckTx on every transaction left in the
    /// mempool after each block. On, as CometBFT ships: it is how a
    /// transaction that stopped applying leaves the mempool (docs/node.md).
    pub recheck: bool,
    /// `ehr-node start --snapshot-interval`: a state-sync snapshot every this
    /// many heights (0: none, the kit's default, so that tests not about
    /// state sync write nothing more).
    pub snapshot_interval: u64,
    /// `ehr-node start --keep-heights` (0: every height kept).
    pub keep_heights: u64,
    /// The genesis time (RFC 3339), when not now: a chain founded long ago.
    pub genesis_time: Option<String>,
    /// How the validators serve their RPC.
    pub rpc_tls: RpcTls,
    /// How long CometBFT's peer connections hold a message before sending
    /// (`p2p.flush_throttle_timeout`, 100 ms as CometBFT ships): across
    /// sites each hop of a proposal or vote may wait that long.
    pub flush_throttle: Duration,
    /// Where the nodes run: the `i`-th node at the `i`-th site, its peers
    /// reached through the sites' links; None: all on loopback, peered
    /// directly.
    pub sites: Option<Arc<Sites>>,
}

/// How the validators serve their RPC: HTTPS (CometBFT's `tls_cert_file`),
/// each with a certificate of its own, unless a baseline asks for plaintext.
#[derive(Clone, Debug, Default)]
pub enum RpcTls {
    /// Certificates from the test process's authority (`pki::for_tests`).
    #[default]
    TestAuthority,
    /// Certificates from this authority (the main job's).
    Authority(Arc<Pki>),
    /// Plaintext HTTP.
    Plaintext,
}

impl RpcTls {
    fn authority(&self) -> Option<Arc<Pki>> {
        match self {
            RpcTls::TestAuthority => Some(crate::pki::for_tests()),
            RpcTls::Authority(pki) => Some(pki.clone()),
            RpcTls::Plaintext => None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout_commit: Duration::from_millis(300),
            chain_id: None,
            app: App::Ledger,
            recheck: true,
            snapshot_interval: 0,
            keep_heights: 0,
            genesis_time: None,
            rpc_tls: RpcTls::default(),
            flush_throttle: Duration::from_millis(100),
            sites: None,
        }
    }
}

/// The ABCI application beside each `cometbft`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    /// `ehr-node start`, over a Unix socket.
    Ledger,
    /// CometBFT's built-in `kvstore` (in the `cometbft` process): the
    /// baseline the ledger's throughput is compared with.
    Kvstore,
    /// The same `kvstore` as a process of its own (`abci-cli kvstore`) over
    /// a Unix socket, as the ledger runs: the baseline with the same
    /// transport between CometBFT and the application.
    KvstoreOverSocket,
    /// The same `kvstore` served over gRPC (CometBFT's `abci = "grpc"`):
    /// the baseline with CometBFT's other ABCI client.
    KvstoreOverGrpc,
}

impl App {
    /// Whether the application is a process beside `cometbft`.
    pub fn is_own_process(self) -> bool {
        self != App::Kvstore
    }
}

/// CometBFT's `abci-cli` (its example applications), which `scripts/setup.sh`
/// installs beside `cometbft`.
pub fn abci_cli() -> Result<PathBuf, Error> {
    crate::installed_engine("abci-cli", &format!("CometBFT's abci-cli {VERSION}"))
}

/// A network of validators (and full nodes), configured and started.
pub struct Network {
    pub dir: PathBuf,
    pub chain_id: String,
    /// The ledger's genesis.json every node starts from.
    pub genesis: PathBuf,
    /// Where the nodes run, when not all on loopback.
    pub sites: Option<Arc<Sites>>,
    pub nodes: Vec<Node>,
    settings: Settings,
    pki: Option<Arc<Pki>>,
    cmt: PathBuf,
    ehr_node: PathBuf,
}

impl Network {
    /// Creates `members.len()` validators in `dir/net` (one per member,
    /// `cometbft testnet`), writes the ledger's genesis with the members, and
    /// starts every node.
    pub fn start(dir: &Path, members: &[Member], settings: Settings) -> Result<Network, Error> {
        let cmt = require()?;
        let ehr_node = crate::binary("ehr-node")?;
        let net = dir.join("net");
        run(
            Command::new(&cmt)
                .args(["testnet", "--v", &members.len().to_string(), "--o"])
                .arg(&net)
                .args(["--starting-ip-address", "127.0.0.1"]),
            "cometbft testnet",
        )?;
        let genesis = net.join("genesis.json");
        let validators = net.join("node0/config/genesis.json");
        if let Some(id) = &settings.chain_id {
            set_genesis_field(&validators, "chain_id", id)?;
        }
        if let Some(time) = &settings.genesis_time {
            set_genesis_field(&validators, "genesis_time", time)?;
        }
        let mut cmd = Command::new(&ehr_node);
        cmd.arg("genesis")
            .arg("--cometbft-genesis")
            .arg(&validators);
        for m in members {
            cmd.arg("--member")
                .arg(format!("{}={}={}", m.id, m.name, m.admin_public_key));
        }
        run(cmd.arg("--out").arg(&genesis), "ehr-node genesis")?;
        let text = std::fs::read_to_string(&genesis).map_err(|e| Error(e.to_string()))?;
        let chain_id = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|g| g["chain_id"].as_str().map(String::from))
            .ok_or_else(|| Error(format!("{} has no chain_id", genesis.display())))?;
        let mut network = Network {
            dir: net.clone(),
            chain_id,
            genesis,
            sites: settings.sites.clone(),
            nodes: Vec::new(),
            pki: settings.rpc_tls.authority(),
            settings,
            cmt,
            ehr_node,
        };
        for (i, m) in members.iter().enumerate() {
            let node = network.new_node(&m.id, net.join(format!("node{i}")))?;
            network.nodes.push(node);
        }
        network.connect()?;
        for node in &mut network.nodes {
            node.start()?;
        }
        Ok(network)
    }

    /// A new node (`cometbft init`: its own keys) that follows the chain as a
    /// full node until governance makes it a validator; started.
    pub fn add_node(&mut self, name: &str) -> Result<&mut Node, Error> {
        let node = self.init_node(name)?;
        self.join(node)
    }

    /// A node of its own keys (`cometbft init`), configured, not started.
    fn init_node(&self, name: &str) -> Result<Node, Error> {
        let home = self.dir.join(format!("node{}", self.nodes.len()));
        run(
            Command::new(&self.cmt).arg("init").arg("--home").arg(&home),
            "cometbft init",
        )?;
        self.new_node(name, home)
    }

    /// Adds `node` to the network, peers everyone with it, and starts it.
    fn join(&mut self, node: Node) -> Result<&mut Node, Error> {
        self.nodes.push(node);
        self.connect()?;
        let node = self.nodes.last_mut().expect("just pushed");
        node.start()?;
        Ok(node)
    }

    fn new_node(&self, name: &str, home: PathBuf) -> Result<Node, Error> {
        std::fs::copy(&self.genesis, home.join("config/genesis.json"))
            .map_err(|e| Error(format!("{}: {e}", home.display())))?;
        let out = Command::new(&self.cmt)
            .arg("show-node-id")
            .arg("--home")
            .arg(&home)
            .output()
            .map_err(|e| Error(format!("cometbft show-node-id: {e}")))?;
        let node_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let index = self.nodes.len();
        let site = self
            .settings
            .sites
            .as_ref()
            .filter(|sites| index < sites.len())
            .map(|sites| (sites.clone(), index));
        let host = site
            .as_ref()
            .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |(sites, i)| {
                sites.sites[*i].address
            });
        let rpc_tls = match &self.pki {
            Some(pki) => Some(RpcCertificate {
                ca_file: pki.ca_file.clone(),
                files: pki.issue_for(&format!("rpc-{name}"), &[host.to_string()])?,
            }),
            None => None,
        };
        let node = Node {
            rpc_tls,
            host,
            site,
            app_args: vec![
                "--snapshot-interval".into(),
                self.settings.snapshot_interval.to_string(),
                "--keep-heights".into(),
                self.settings.keep_heights.to_string(),
            ],
            name: name.to_string(),
            home,
            app_kind: self.settings.app,
            node_id,
            rpc_port: crate::free_port()?,
            p2p_port: crate::free_port()?,
            grpc_port: crate::free_port()?,
            app: None,
            cmt: None,
            cmt_bin: self.cmt.clone(),
            ehr_node: self.ehr_node.clone(),
        };
        node.configure(&self.settings)?;
        Ok(node)
    }

    /// A new node that joins by state sync: it restores a snapshot served by
    /// the others, checked by CometBFT's light client against two of them
    /// from the trusted header at `trust_height` (whose hash is
    /// `trust_hash`), then follows the chain from the snapshot's height;
    /// started.
    pub fn add_node_by_state_sync(
        &mut self,
        name: &str,
        trust_height: u64,
        trust_hash: &str,
    ) -> Result<&mut Node, Error> {
        let node = self.init_node(name)?;
        let servers: Vec<String> = self.nodes.iter().take(2).map(Node::rpc_url).collect();
        for (key, value) in [
            ("enable", "true".to_string()),
            ("rpc_servers", format!("\"{}\"", servers.join(","))),
            ("trust_height", trust_height.to_string()),
            ("trust_hash", format!("\"{trust_hash}\"")),
            // Every validator here is local: a short look around is enough.
            ("discovery_time", "\"5s\"".into()),
        ] {
            set_toml(&node.config(), "statesync", key, &value)?;
        }
        self.join(node)
    }

    /// Every node has every other as a persistent peer: directly, or through
    /// the link between their sites.
    fn connect(&self) -> Result<(), Error> {
        for node in &self.nodes {
            let peers = self
                .nodes
                .iter()
                .filter(|other| other.home != node.home)
                .map(|other| {
                    let direct = std::net::SocketAddr::new(other.host, other.p2p_port);
                    let address = match (&node.site, &other.site) {
                        (Some((sites, from)), Some((_, to))) => sites.link(*from, *to, direct)?,
                        _ => direct,
                    };
                    Ok(format!("{}@{address}", other.node_id))
                })
                .collect::<Result<Vec<String>, Error>>()?;
            set_toml(
                &node.config(),
                "p2p",
                "persistent_peers",
                &format!("\"{}\"", peers.join(",")),
            )?;
        }
        Ok(())
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Stops every node, each CometBFT before its application.
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
    }

    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().flat_map(Node::pids).collect()
    }
}

/// Waits until the node at `rpc` reports height `at_least`; its height then.
pub async fn wait_height(rpc: &RpcClient, at_least: u64, timeout: Duration) -> Result<u64, Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let h = rpc.latest_height().await.unwrap_or(0);
        if h >= at_least {
            return Ok(h);
        }
        if Instant::now() > deadline {
            return Err(Error(format!(
                "{} stayed at height {h}, short of {at_least}, for {timeout:?}",
                rpc.url()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn set_genesis_field(genesis: &Path, field: &str, value: &str) -> Result<(), Error> {
    let text = std::fs::read_to_string(genesis).map_err(|e| Error(e.to_string()))?;
    let mut doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error(format!("{}: {e}", genesis.display())))?;
    doc[field] = serde_json::Value::from(value);
    std::fs::write(genesis, doc.to_string()).map_err(|e| Error(e.to_string()))
}

fn run(cmd: &mut Command, what: &str) -> Result<(), Error> {
    let out = cmd
        .output()
        .map_err(|e| Error(format!("cannot run {what}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Sets `key = value` in `[section]` of a TOML file (top level: section "").
pub fn set_toml(path: &Path, section: &str, key: &str, value: &str) -> Result<(), Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error(format!("{}: {e}", path.display())))?;
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
        return Err(Error(format!(
            "{} has no {key} in [{section}]",
            path.display()
        )));
    }
    std::fs::write(path, lines.join("\n") + "\n").map_err(|e| Error(e.to_string()))
}
