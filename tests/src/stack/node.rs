//! The chain as processes: `ehr-node dev`, or four CometBFT validators.

use super::*;

/// The chain the stack runs on: the dev sequencer, or four CometBFT
/// validators (the stack then talks to General's).
pub struct Node {
    engine: Engine,
    pub url: String,
    /// The genesis file: the trust root of the CLI's header checks.
    pub genesis: PathBuf,
}

enum Engine {
    Dev(Proc),
    Cometbft(crate::cometbft::Network),
}

impl Node {
    /// Four CometBFT validators of the four founding hospitals.
    pub fn start_cometbft(dir: &Path) -> Node {
        Self::start_cometbft_at(dir, Default::default())
    }

    /// The same, each hospital at a site of its own (`crate::sites`), the
    /// validators' `timeout_commit` and `flush_throttle_timeout` as given.
    pub fn start_cometbft_across_sites(
        dir: &Path,
        timeout_commit: Duration,
        flush_throttle: Duration,
    ) -> Node {
        let sites =
            crate::sites::Sites::create(&dir.join("sites"), &["general", "north", "south", "east"])
                .unwrap_or_else(|e| panic!("the sites are made: {e}"));
        let settings = crate::cometbft::Settings {
            timeout_commit,
            flush_throttle,
            sites: Some(Arc::new(sites)),
            ..Default::default()
        };
        Self::start_cometbft_at(dir, settings)
    }

    fn start_cometbft_at(dir: &Path, settings: crate::cometbft::Settings) -> Node {
        use crate::cometbft::{Member, Network, Settings};
        let members: Vec<Member> = ["general", "north", "south", "east"]
            .iter()
            .map(|org| Member {
                id: org.to_string(),
                name: format!("{org} hospital"),
                admin_public_key: hex::encode(key(&format!("admin@{org}")).public_key().to_bytes()),
            })
            .collect();
        let settings = Settings {
            chain_id: Some(CHAIN.into()),
            ..settings
        };
        let network = Network::start(dir, &members, settings)
            .unwrap_or_else(|e| panic!("the CometBFT network starts: {e}"));
        let url = network.nodes[0].rpc_url();
        let rpc = network.nodes[0].rpc();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(crate::cometbft::wait_height(
            &rpc,
            2,
            Duration::from_secs(120),
        ))
        .unwrap_or_else(|e| panic!("{e}\n{}", network.nodes[0].log_tail(20)));
        Node {
            url,
            genesis: network.genesis.clone(),
            engine: Engine::Cometbft(network),
        }
    }

    pub fn start(home: &Path) -> Node {
        std::fs::create_dir_all(home).unwrap();
        let genesis = home.join("genesis.json");
        std::fs::write(&genesis, serde_json::to_vec(&super::genesis()).unwrap()).unwrap();
        let mut cmd = Command::new(binary("ehr-node"));
        cmd.args(["dev", "--home"])
            .arg(home.join("data"))
            .arg("--genesis")
            .arg(&genesis)
            .args([
                "--rpc",
                "127.0.0.1:0",
                "--block-interval-ms",
                "100",
                "--empty-block-interval-ms",
                "300",
            ])
            .args(service_tls("dev-node"));
        let mut proc = Proc::spawn("node", cmd, home).unwrap_or_else(|e| panic!("{e}"));
        let url = proc
            .announced("serving RPC at ", ANNOUNCE_WITHIN)
            .unwrap_or_else(|e| panic!("{e}"));
        Node {
            engine: Engine::Dev(proc),
            url,
            genesis,
        }
    }
}

impl Node {
    /// The `ehr` CLI's trust root for this chain: the genesis file under
    /// CometBFT; under the dev sequencer, the explicit flag that trusts it.
    /// The validators' sites, when they run across sites.
    pub fn sites(&self) -> Option<Arc<crate::sites::Sites>> {
        match &self.engine {
            Engine::Cometbft(n) => n.sites.clone(),
            Engine::Dev(_) => None,
        }
    }

    pub fn trust_args(&self) -> Vec<std::ffi::OsString> {
        match &self.engine {
            Engine::Dev(_) => vec!["--trust-dev-sequencer".into()],
            Engine::Cometbft(_) => vec!["--genesis".into(), self.genesis.clone().into()],
        }
    }

    /// Every RPC address of the chain: each validator's, or the sequencer's.
    pub fn urls(&self) -> Vec<String> {
        match &self.engine {
            Engine::Dev(_) => vec![self.url.clone()],
            Engine::Cometbft(network) => network.nodes.iter().map(|n| n.rpc_url()).collect(),
        }
    }
}

impl Submit for Node {
    fn rpc(&self) -> RpcClient {
        RpcClient::new(&self.url)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        match &mut self.engine {
            Engine::Dev(proc) => proc.kill_9(),
            Engine::Cometbft(network) => network.stop(),
        }
    }
}
