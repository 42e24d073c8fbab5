//! ehr: the command-line client of ehr-ledger — keys, every transaction, and
//! the queries — against a CometBFT node's RPC or `ehr-node dev`.
//!
//! Where an address or a public key is asked for, the name of a local key
//! works too (`--patient alice`).

mod archive;
mod args;
mod clinical;
mod codes;
mod ethereum;
mod keys;
mod query;
mod read;
mod tx;

use anyhow::anyhow;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ehr_client::keyring::Keyring;
use ehr_client::read_path::open::TrustRoot;
use ehr_client::rpc::trust::Anchor;
use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::{Address, PublicKey};

use crate::args::*;
use crate::keys::*;
use crate::query::*;
use crate::tx::*;

#[derive(Parser)]
#[command(
    name = "ehr",
    version,
    about = "Client of the ehr-ledger chain: keys, transactions, queries"
)]
struct Cli {
    /// Folder of the local keys.
    #[arg(long, global = true, env = "EHR_HOME")]
    home: Option<PathBuf>,
    /// RPC address of a CometBFT node or of `ehr-node dev`.
    #[arg(
        long,
        global = true,
        env = "EHR_NODE",
        default_value = ehr_client::rpc::DEFAULT_NODE_URL
    )]
    node: String,
    /// The record gateway (for fetch and rewrap).
    #[arg(
        long,
        global = true,
        env = "EHR_GATEWAY",
        default_value = "http://127.0.0.1:8080"
    )]
    gateway: String,
    /// The consortium's genesis file: the trust root for checking block
    /// headers by the validators' signatures (default: genesis.json in the
    /// key folder, when there).
    #[arg(long, global = true, env = "EHR_GENESIS")]
    genesis: Option<PathBuf>,
    /// A recent header the consortium vouches for, `<height>:<hash>` (as
    /// `ehr checkpoint` prints it): where header checks start when the
    /// genesis is older than the trusting period (a year).
    #[arg(long, global = true, env = "EHR_TRUST_CHECKPOINT")]
    trust_checkpoint: Option<String>,
    /// Trust the dev sequencer (`ehr-node dev`) as it is: one process whose
    /// answers nothing can check. Only by this flag: a node that says it is a
    /// sequencer is otherwise refused, and never trusted while a genesis file
    /// is at hand.
    #[arg(long, global = true, env = "EHR_TRUST_DEV_SEQUENCER")]
    trust_dev_sequencer: bool,
    /// Print JSON instead of sentences.
    #[arg(long, global = true)]
    json: bool,
    /// TLS: the authority the node's and the gateway's certificates must chain to.
    #[command(flatten)]
    tls: ehr_transport::ClientTlsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, import and list local keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The chain's id, height and app hash.
    Status,
    /// The newest header the validators signed, verified from the trust root
    /// (the genesis, or a checkpoint), as `<height>:<hash>`: give it to readers
    /// and services that start after the genesis' trusting period
    /// (--trust-checkpoint).
    Checkpoint,
    /// Sign and send a transaction, and wait for its block.
    Tx(TxArgs),
    /// Read the chain's state.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Fetch a patient's records from the gateway, decrypt them here and
    /// verify each against the chain.
    Fetch(read::FetchArgs),
    /// (patient or guardian) Wrap past records' keys for a new reader.
    Rewrap(read::RewrapArgs),
    /// (patient, after a recovery of her lost key) Have the gateway re-wrap
    /// her escrowed data keys for the key her recovery bound.
    RecoverKeys(read::RecoverKeysArgs),
    /// A patient's audit trail: who read what, when and why.
    Audit(read::AuditArgs),
    /// A patient's orders or prescriptions from the gateway, decrypted here
    /// and checked against their anchors on chain.
    Documents(clinical::DocumentsArgs),
    /// Prove a day of readings archived out of the database (ehr-archive)
    /// against the chain, line by line.
    VerifyArchive(archive::VerifyArchiveArgs),
    /// The consortium's code directory (LOINC, ICD-10-CM, SNOMED CT): search
    /// it or show a code, proven; no key needed.
    #[command(subcommand)]
    Codes(codes::CodesCommand),
    /// The consortium's state checkpointed on Ethereum: deploy the contract,
    /// sign and write checkpoints, prove a record or audit a node's history
    /// against them.
    Ethereum(ethereum::EthereumArgs),
}

type Result<T> = anyhow::Result<T>;

struct Ctx {
    rpc: RpcClient,
    gateway: String,
    keys: Keyring,
    home: PathBuf,
    genesis: Option<PathBuf>,
    trust_checkpoint: Option<String>,
    trust_dev_sequencer: bool,
    json: bool,
}

impl Ctx {
    fn address(&self, s: &str) -> Result<Address> {
        if let Ok(a) = s.parse::<Address>() {
            return Ok(a);
        }
        self.keys.load(s).map(|k| k.address()).map_err(|_| {
            anyhow!("{s:?} is neither an address (ehr1… or 40 hex digits) nor a local key name")
        })
    }

    /// What the chain's answers are checked against, from this command line only.
    fn trust_root(&self) -> Result<TrustRoot> {
        Ok(TrustRoot::configured(
            self.genesis.clone(),
            self.trust_checkpoint.as_deref(),
            self.trust_dev_sequencer,
            Some(self.home.clone()),
        )?)
    }

    fn addr(&self, s: &str) -> Result<Vec<u8>> {
        Ok(self.address(s)?.0.to_vec())
    }

    /// A public key, or empty bytes when none is named.
    fn optional_public_key(&self, s: Option<&str>) -> Result<Vec<u8>> {
        s.map(|k| self.public_key(k))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn public_key(&self, s: &str) -> Result<Vec<u8>> {
        if let Some(k) = hex::decode(s).ok().and_then(|b| PublicKey::from_bytes(&b)) {
            return Ok(k.to_bytes().to_vec());
        }
        self.keys
            .load(s)
            .map(|k| k.public_key().to_bytes().to_vec())
            .map_err(|_| {
                anyhow!("{s:?} is neither a public key (66 hex digits) nor a local key name")
            })
    }
}

/// Verifies the newest header from the trust root and prints it.
async fn checkpoint(ctx: &Ctx) -> Result<bool> {
    let anchor = Anchor::connect(ctx.rpc.clone(), &ctx.trust_root()?).await?;
    let latest = ctx.rpc.latest_height().await?;
    anchor.header(latest).await?;
    match anchor.checkpoint().await {
        Some(c) => {
            println!("{c}");
            Ok(true)
        }
        None => Err(anyhow!(
            "{}: there is no verified header to vouch for (pass --genesis)",
            anchor.trust()
        )),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = cli.home.clone().unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".ehr")
    });
    let genesis = cli
        .genesis
        .clone()
        .or_else(|| Some(home.join("genesis.json")).filter(|p| p.is_file()));
    match ehr_transport::Transport::for_client(&cli.tls) {
        Ok(transport) => ehr_transport::install(&transport),
        Err(e) => {
            eprintln!("ehr: {e}");
            return ExitCode::from(2);
        }
    }
    let ctx = Ctx {
        rpc: RpcClient::new(&cli.node),
        gateway: cli.gateway.clone(),
        keys: Keyring::new(&home),
        home,
        genesis,
        trust_checkpoint: cli.trust_checkpoint.clone(),
        trust_dev_sequencer: cli.trust_dev_sequencer,
        json: cli.json,
    };
    let outcome = match &cli.command {
        Command::Keys(k) => keys_command(&ctx, k),
        Command::Status => match ctx.rpc.status().await {
            Ok(s) => {
                if ctx.json {
                    println!("{}", serde_json::to_string(&s).unwrap_or_default());
                } else {
                    println!(
                        "chain {} at height {} ({}), app hash {}\nnode {}",
                        s.node_info.network,
                        s.sync_info.latest_block_height,
                        s.sync_info.latest_block_time,
                        s.sync_info.latest_app_hash,
                        s.node_info.version
                    );
                }
                Ok(true)
            }
            Err(e) => Err(e.into()),
        },
        Command::Checkpoint => checkpoint(&ctx).await,
        Command::Tx(t) => send(&ctx, &t.from, t.no_wait, &t.action).await,
        Command::Query(q) => query(&ctx, q).await,
        Command::Fetch(a) => read::fetch(&ctx, a).await,
        Command::Rewrap(a) => read::rewrap(&ctx, a).await,
        Command::RecoverKeys(a) => read::recover_keys(&ctx, a).await,
        Command::Audit(a) => read::audit(&ctx, a).await,
        Command::Documents(a) => clinical::read(&ctx, a).await,
        Command::VerifyArchive(a) => archive::verify_archive(&ctx, a).await,
        Command::Codes(c) => codes::codes(&ctx, c).await,
        Command::Ethereum(a) => ethereum::ethereum(&ctx, a).await,
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("ehr: {message:#}");
            ExitCode::from(2)
        }
    }
}
