//! ehr-node: the ledger as a CometBFT ABCI application (`start`), as a
//! single-node dev sequencer with CometBFT's RPC (`dev`), and the genesis tool
//! (`genesis`). docs/node.md explains each.

use anyhow::{anyhow, Context};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use clap::{Parser, Subcommand};
use ehr_ledger::crypto::PublicKey;
use ehr_ledger::ledger::genesis::{seed_codes, CometGenesis, GenesisMember, GenesisValidator};
use ehr_ledger::ledger::{Genesis, Ledger, LedgerOptions, SnapshotPolicy};
use ehr_ledger::storage::{snapshot, Retention};
use ehr_node::abci::server::{serve, ListenAddress, Listener};
use ehr_node::abci::App;
use ehr_node::sequencer::{http, Config, Sequencer};

#[derive(Parser)]
#[command(
    name = "ehr-node",
    version,
    about = "The ehr-ledger node: ABCI application for CometBFT, or a dev sequencer"
)]
struct Cli {
    /// Log lines as JSON (for log collectors) instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the ABCI application to a CometBFT node (its proxy_app).
    Start {
        /// Folder of the node's data (the ledger in <home>/data).
        #[arg(long, env = "EHR_HOME")]
        home: PathBuf,
        /// tcp://HOST:PORT or unix:///PATH, as CometBFT's proxy_app.
        #[arg(long, default_value = "tcp://127.0.0.1:26658")]
        abci: String,
        #[command(flatten)]
        state: StateFlags,
    },
    /// Run the dev sequencer: one node making its own blocks and serving
    /// CometBFT's RPC. For development and tests: one sequencer, not BFT.
    Dev {
        #[arg(long, env = "EHR_HOME")]
        home: PathBuf,
        /// A CometBFT genesis.json whose app_state is the ledger's genesis;
        /// needed the first time only.
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// Where to serve the RPC.
        #[arg(long, default_value = "127.0.0.1:26657")]
        rpc: String,
        /// How often pending transactions are put in a block.
        #[arg(long, default_value_t = 500)]
        block_interval_ms: u64,
        /// How often an empty block is made when nothing is pending (0: never).
        #[arg(long, default_value_t = 5000)]
        empty_block_interval_ms: u64,
        /// How the RPC is served: HTTPS with --tls-cert-file and --tls-key-file, or
        /// plaintext with --insecure-plaintext.
        #[command(flatten)]
        tls: ehr_transport::TlsArgs,
    },
    /// Write a CometBFT genesis.json with the ledger's app_state.
    Genesis {
        /// Start from this CometBFT genesis (from `cometbft init` or `cometbft
        /// testnet`): its chain id, time and validators are kept.
        #[arg(long)]
        cometbft_genesis: Option<PathBuf>,
        /// The chain id (required without --cometbft-genesis).
        #[arg(long)]
        chain_id: Option<String>,
        /// A founding member: ORG_ID=NAME=ADMIN_PUBLIC_KEY_HEX (repeat).
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// A validator: ED25519_PUBKEY(base64 or hex)=POWER=ORG_ID (repeat). Without
        /// it, the validators of --cometbft-genesis are assigned to the members in turn.
        #[arg(long = "validator")]
        validators: Vec<String>,
        /// The code directory's first codes: a JSON list as
        /// abci-app/core/codes/seed.json (the default) writes them.
        #[arg(long)]
        codes: Option<PathBuf>,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

/// How a validator keeps its state (docs/node.md, "State sync and pruning").
#[derive(clap::Args)]
struct StateFlags {
    /// Write a state-sync snapshot every this many heights, in
    /// <home>/snapshots, for new nodes to join from (0: never).
    #[arg(long, default_value_t = 1000)]
    snapshot_interval: u64,
    /// How many snapshots to keep on disk.
    #[arg(long, default_value_t = 2)]
    snapshot_keep: usize,
    /// Keep the state tree of only the last this many heights (proofs at
    /// older heights are refused); 0 keeps every height (an archive node).
    #[arg(long, default_value_t = 0)]
    keep_heights: u64,
    /// Joining by state sync, take at most this many bytes of a snapshot's
    /// chunks; a larger snapshot is refused (its sender is not blamed). The
    /// restored store takes a few times this on disk (the tree, its indexes).
    #[arg(long, default_value_t = snapshot::DEFAULT_MAX_RESTORE_BYTES)]
    state_sync_max_bytes: u64,
}

impl StateFlags {
    fn options(&self, home: &std::path::Path) -> LedgerOptions {
        LedgerOptions {
            retention: match self.keep_heights {
                0 => Retention::Everything,
                n => Retention::LastHeights(n),
            },
            snapshots: (self.snapshot_interval > 0).then(|| SnapshotPolicy {
                dir: home.join("snapshots"),
                every: self.snapshot_interval,
                keep: self.snapshot_keep,
                chunk_bytes: snapshot::CHUNK_BYTES,
            }),
            max_restore_bytes: Some(self.state_sync_max_bytes),
        }
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    ehr_client::service::init_logging(cli.log_json);
    let result = match cli.command {
        Command::Start { home, abci, state } => {
            let options = state.options(&home);
            start(home, &abci, options).await
        }
        Command::Dev {
            home,
            genesis,
            rpc,
            block_interval_ms,
            empty_block_interval_ms,
            tls,
        } => {
            dev(
                home,
                genesis,
                &rpc,
                (block_interval_ms, empty_block_interval_ms),
                &tls,
            )
            .await
        }
        Command::Genesis {
            cometbft_genesis,
            chain_id,
            members,
            validators,
            codes,
            out,
        } => genesis(
            cometbft_genesis,
            chain_id,
            &members,
            &validators,
            codes.as_deref(),
            &out,
        ),
    };
    if let Err(message) = result {
        eprintln!("ehr-node: {message:#}");
        std::process::exit(1);
    }
}

fn open_ledger(home: &std::path::Path, options: LedgerOptions) -> anyhow::Result<Ledger> {
    let data = home.join("data");
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    Ledger::open_with(&data.join("ledger.redb"), options)
        .with_context(|| format!("cannot open the ledger in {}", data.display()))
}

async fn start(home: PathBuf, abci: &str, options: LedgerOptions) -> anyhow::Result<()> {
    let address: ListenAddress = abci.parse()?;
    let ledger = open_ledger(&home, options)?;
    match ledger.status()? {
        Some(s) => {
            tracing::info!(chain_id = %s.chain_id, height = s.block_height, app_hash = %hex::encode(s.app_hash), "ledger opened")
        }
        None => tracing::info!("ledger opened with no chain yet: waiting for InitChain"),
    }
    let listener = Listener::bind(&address).with_context(|| format!("cannot listen on {abci}"))?;
    // Scripts wait for this line (and learn the port when 0 was asked for).
    println!(
        "ehr-node start: ABCI listening on {}",
        listener.local_address()
    );
    let app = App::new(ledger);
    std::thread::Builder::new()
        .name("abci-accept".into())
        .spawn(move || serve(listener, app))
        .context("cannot start the ABCI server's thread")?;
    ehr_client::service::shutdown_signal().await;
    Ok(())
}

async fn dev(
    home: PathBuf,
    genesis: Option<PathBuf>,
    rpc: &str,
    (block_ms, empty_ms): (u64, u64),
    tls: &ehr_transport::TlsArgs,
) -> anyhow::Result<()> {
    let tls = ehr_transport::Transport::from_args(tls)?.server()?;
    let genesis = genesis.map(|g| CometGenesis::read(&g)).transpose()?;
    let mut config = Config::new(&home);
    config.block_interval = Duration::from_millis(block_ms.max(10));
    config.empty_block_interval = Duration::from_millis(empty_ms);
    let sequencer =
        tokio::task::spawn_blocking(move || Sequencer::open(config, genesis.as_ref())).await??;
    let listener = tokio::net::TcpListener::bind(rpc)
        .await
        .with_context(|| format!("cannot serve the RPC on {rpc}"))?;
    let listener = ehr_transport::ServiceListener::new(listener, tls)?;
    let url = listener.url();
    tracing::warn!("DEV SEQUENCER: one node orders all transactions; no Byzantine fault tolerance. Production runs CometBFT.");
    tracing::info!(chain_id = %sequencer.chain_id(), rpc = %url, "dev sequencer ready");
    // Scripts wait for this line.
    println!(
        "ehr-node dev: chain {} serving RPC at {url}",
        sequencer.chain_id()
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let producer = tokio::spawn(sequencer.clone().run(async move {
        let mut rx = stop_rx;
        let _ = rx.changed().await;
    }));
    let server = axum::serve(listener, http::router(sequencer))
        .with_graceful_shutdown(ehr_client::service::shutdown_signal());
    let served = server.await;
    let _ = stop_tx.send(true);
    let _ = producer.await;
    Ok(served?)
}

fn decode_key(s: &str) -> Option<Vec<u8>> {
    if s.len() == 64 {
        if let Ok(b) = hex::decode(s) {
            return Some(b);
        }
    }
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

fn genesis(
    cometbft: Option<PathBuf>,
    chain_id: Option<String>,
    members: &[String],
    validators: &[String],
    codes: Option<&std::path::Path>,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let mut doc = match &cometbft {
        Some(path) => CometGenesis::read(path)?,
        None => CometGenesis {
            genesis_time: ehr_ledger::time::rfc3339(ehr_client::service::now_ms().div_euclid(1000)),
            chain_id: chain_id
                .clone()
                .ok_or_else(|| anyhow!("--chain-id is required without --cometbft-genesis"))?,
            initial_height: serde_json::Value::String("1".into()),
            app_state: serde_json::Value::Null,
            rest: Default::default(),
        },
    };
    if let Some(id) = chain_id {
        doc.chain_id = id;
    }
    let mut ledger = Genesis {
        codes: match codes {
            None => seed_codes(),
            Some(path) => {
                let text = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                serde_json::from_slice(&text).with_context(|| {
                    format!(
                        "{} is not a JSON list of codes as seed.json",
                        path.display()
                    )
                })?
            }
        },
        ..Genesis::default()
    };
    for m in members {
        let parts: Vec<&str> = m.splitn(3, '=').collect();
        let [org_id, name, key] = parts[..] else {
            return Err(anyhow!(
                "--member {m:?} is not ORG_ID=NAME=ADMIN_PUBLIC_KEY_HEX"
            ));
        };
        let bytes =
            hex::decode(key).map_err(|_| anyhow!("the admin key of {org_id} is not hex"))?;
        PublicKey::from_bytes(&bytes).ok_or_else(|| {
            anyhow!("the admin key of {org_id} is not a compressed secp256k1 key")
        })?;
        ledger.members.push(GenesisMember {
            org_id: org_id.into(),
            name: name.into(),
            admin_public_key: key.into(),
        });
    }
    if validators.is_empty() {
        let listed = doc
            .rest
            .get("validators")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if listed.is_empty() {
            return Err(anyhow!(
                "no validators: pass --validator, or --cometbft-genesis with validators"
            ));
        }
        for (i, v) in listed.iter().enumerate() {
            let key = v
                .pointer("/pub_key/value")
                .and_then(|k| k.as_str())
                .ok_or_else(|| anyhow!("a CometBFT validator without pub_key.value"))?;
            let power = v
                .get("power")
                .and_then(|p| p.as_str().and_then(|s| s.parse().ok()).or(p.as_i64()))
                .unwrap_or(10);
            let bytes = decode_key(key)
                .ok_or_else(|| anyhow!("a validator key that is neither base64 nor hex"))?;
            let org = &ledger.members[i % ledger.members.len()].org_id;
            ledger.validators.push(GenesisValidator {
                pub_key: hex::encode(bytes),
                power,
                operator_org: org.clone(),
            });
        }
    } else {
        for v in validators {
            // From the right: base64 keys end in '=' padding.
            let parts: Vec<&str> = v.rsplitn(3, '=').collect();
            let [org, power, key] = parts[..] else {
                return Err(anyhow!(
                    "--validator {v:?} is not ED25519_PUBKEY=POWER=ORG_ID"
                ));
            };
            let bytes = decode_key(key)
                .ok_or_else(|| anyhow!("validator key {key:?} is neither base64 nor hex"))?;
            let power = power
                .parse()
                .map_err(|_| anyhow!("validator power {power:?} is not a number"))?;
            ledger.validators.push(GenesisValidator {
                pub_key: hex::encode(bytes),
                power,
                operator_org: org.into(),
            });
        }
        // CometBFT's own list must match what the ledger returns at InitChain.
        let listed: Vec<serde_json::Value> = ledger
            .validators
            .iter()
            .map(|v| {
                let key = hex::decode(&v.pub_key).unwrap_or_default();
                serde_json::json!({
                    "address": hex::encode_upper(&ehr_ledger::crypto::sha256(&key)[..20]),
                    "pub_key": { "type": "tendermint/PubKeyEd25519", "value": base64::engine::general_purpose::STANDARD.encode(&key) },
                    "power": v.power.to_string(),
                    "name": v.operator_org,
                })
            })
            .collect();
        doc.rest
            .insert("validators".into(), serde_json::Value::Array(listed));
    }
    ledger.check()?;
    doc.app_state = serde_json::to_value(&ledger)?;
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(out, text + "\n").with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {}: chain {}, {} members, {} validators",
        out.display(),
        doc.chain_id,
        ledger.members.len(),
        ledger.validators.len()
    );
    Ok(())
}
