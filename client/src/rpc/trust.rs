//! What a client of the chain trusts, and the app hashes it gets from that.
//!
//! The choice is the client's own configuration, never what the node says
//! about itself: a genesis file at hand means block headers are checked by
//! the validators' signatures (`light`); a dev sequencer is trusted only by an
//! explicit choice (the CLI's `--trust-dev-sequencer`, a service's flag, the
//! main job that started the sequencer itself). A node that says it is a
//! sequencer while a genesis is at hand is refused: a sequencer has no
//! validators, so the claim could only switch the checks off.

use std::path::PathBuf;

use tokio::sync::Mutex;

use super::light::{Checkpoint, LightClient, LightError, VerifiedHeader};
use super::{RpcClient, RpcError};

/// A service's trust options, the same for every service (`#[command(flatten)]`).
#[derive(clap::Args, Clone, Debug)]
pub struct TrustArgs {
    /// The consortium's genesis file (CometBFT's): every answer of the chain
    /// the service relies on is proven against headers the validators signed.
    #[arg(long, env = "EHR_GENESIS")]
    pub genesis: Option<PathBuf>,
    /// A recent header the consortium vouches for, `<height>:<hash>` (as
    /// `ehr checkpoint` prints it): where header checks start once the
    /// genesis is past its trusting period.
    #[arg(long, env = "EHR_TRUST_CHECKPOINT")]
    pub trust_checkpoint: Option<String>,
    /// Trust a dev sequencer (`ehr-node dev`) as it is: one process whose
    /// answers nothing can check. Never beside --genesis.
    #[arg(long)]
    pub trust_dev_sequencer: bool,
    /// Nothing is decided on a state whose newest header is older than this
    /// (a node behind, or withholding blocks, serves a past in which a
    /// revoked grant still holds).
    #[arg(long, default_value_t = 60)]
    pub max_state_age_secs: u64,
}

impl TrustArgs {
    pub fn root(&self) -> Result<TrustRoot, TrustError> {
        TrustRoot::configured(
            self.genesis.clone(),
            self.trust_checkpoint.as_deref(),
            self.trust_dev_sequencer,
            None,
        )
    }

    pub fn max_state_age(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_state_age_secs)
    }
}

/// What the configuration says to trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustRoot {
    /// The consortium's genesis file: headers are checked by the validators'
    /// signatures (headers verified are kept under `store_dir`).
    Genesis {
        file: PathBuf,
        store_dir: Option<PathBuf>,
        /// A recent header the consortium vouches for (`--trust-checkpoint`),
        /// where verification starts once the genesis is past its trusting
        /// period.
        checkpoint: Option<Checkpoint>,
    },
    /// The dev sequencer, trusted as it is (an explicit choice).
    DevSequencer,
    /// Nothing configured: nothing can be verified.
    None,
}

impl TrustRoot {
    /// The trust root of a command line: a genesis file at hand, or the
    /// explicit flag to trust a dev sequencer; never both.
    pub fn configured(
        genesis: Option<PathBuf>,
        checkpoint: Option<&str>,
        trust_dev_sequencer: bool,
        store_dir: Option<PathBuf>,
    ) -> Result<TrustRoot, TrustError> {
        let checkpoint = checkpoint.map(str::parse::<Checkpoint>).transpose()?;
        match (genesis, trust_dev_sequencer) {
            (Some(g), true) => Err(TrustError::Conflicting(g.display().to_string())),
            (Some(file), false) => Ok(TrustRoot::Genesis {
                file,
                store_dir,
                checkpoint,
            }),
            (None, _) if checkpoint.is_some() => Err(TrustError::CheckpointWithoutGenesis),
            (None, true) => Ok(TrustRoot::DevSequencer),
            (None, false) => Ok(TrustRoot::None),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error(transparent)]
    Header(#[from] LightError),
    #[error("the node at {0} runs CometBFT, and verifying its headers needs the consortium's genesis file as the trust root: pass --genesis (or put genesis.json in the key folder)")]
    NoTrustRoot(String),
    #[error("the node at {node} says it is a dev sequencer, but the consortium's genesis file ({genesis}) is the trust root here: its headers must carry the validators' signatures, and a node that claims to need none is refused. If you really mean to trust a single dev sequencer, pass --trust-dev-sequencer without a genesis file")]
    ClaimsSequencer { node: String, genesis: String },
    #[error("the node at {0} says it is a dev sequencer, whose answers nothing can check: pass --trust-dev-sequencer to trust it anyway (one process, not Byzantine fault tolerant), or --genesis and a CometBFT node of the consortium")]
    SequencerNotTrusted(String),
    #[error("--trust-dev-sequencer was given, but the node at {0} is not a dev sequencer: pass --genesis to check its headers by the validators' signatures")]
    NotASequencer(String),
    #[error("both a genesis file ({0}) and --trust-dev-sequencer were given: choose one (a genesis file means headers are checked)")]
    Conflicting(String),
    #[error("--trust-checkpoint needs the consortium's genesis file too (--genesis): the checkpoint says which header to start from, the genesis which chain it is")]
    CheckpointWithoutGenesis,
    #[error(
        "block {0} did not come within 10 s: the state before it cannot be checked yet; try again"
    )]
    NoHeaderYet(u64),
    #[error("the node at {url} served block {height} without a 32-byte app hash")]
    Malformed { url: String, height: u64 },
}

/// What a reader's checks rest on, in a sentence for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Headers signed by more than two thirds of the validators' voting
    /// power, from the genesis file's validator set on.
    Validators { node: String },
    /// The dev sequencer's word: one process, nothing to check it against.
    DevSequencer { node: String },
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Validators { node } => write!(
                f,
                "block headers from {node} are checked by the validators' signatures (light client, trust root: the genesis file)"
            ),
            Trust::DevSequencer { node } => write!(
                f,
                "trusting the dev sequencer at {node}: one process, not Byzantine fault tolerant — its app hashes are taken on its word"
            ),
        }
    }
}

/// The source of app hashes a client relies on: headers verified by the
/// light client, or a dev sequencer's word by explicit choice.
pub struct Anchor {
    rpc: RpcClient,
    light: Option<Mutex<LightClient>>,
    trust: Trust,
}

impl Anchor {
    /// Connects to the node at `rpc` under `root`.
    pub async fn connect(rpc: RpcClient, root: &TrustRoot) -> Result<Anchor, TrustError> {
        let node = rpc.url().to_string();
        let says_sequencer = rpc
            .status()
            .await?
            .node_info
            .version
            .contains("dev sequencer");
        let (light, trust) = match root {
            TrustRoot::Genesis { file, .. } if says_sequencer => {
                return Err(TrustError::ClaimsSequencer {
                    node,
                    genesis: file.display().to_string(),
                })
            }
            TrustRoot::Genesis {
                file,
                store_dir,
                checkpoint,
            } => {
                let light =
                    LightClient::from_genesis(rpc.clone(), file, store_dir.as_deref(), *checkpoint)
                        .await?;
                (Some(Mutex::new(light)), Trust::Validators { node })
            }
            TrustRoot::DevSequencer if says_sequencer => (None, Trust::DevSequencer { node }),
            TrustRoot::DevSequencer => return Err(TrustError::NotASequencer(node)),
            TrustRoot::None if says_sequencer => return Err(TrustError::SequencerNotTrusted(node)),
            TrustRoot::None => return Err(TrustError::NoTrustRoot(node)),
        };
        Ok(Anchor { rpc, light, trust })
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The newest header the light client verified, as a checkpoint others
    /// can start from; none under a trusted sequencer.
    pub async fn checkpoint(&self) -> Option<Checkpoint> {
        match &self.light {
            Some(light) => light.lock().await.newest(),
            None => None,
        }
    }

    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The chain id the validators' headers are checked for (the genesis
    /// file's); None under a trusted sequencer, whose word is all there is.
    pub async fn verified_chain_id(&self) -> Option<String> {
        match &self.light {
            Some(light) => Some(light.lock().await.chain_id().to_string()),
            None => None,
        }
    }

    /// The header of block `height`: verified by the validators'
    /// signatures, or as the trusted sequencer serves it.
    pub async fn header(&self, height: u64) -> Result<VerifiedHeader, TrustError> {
        if let Some(light) = &self.light {
            return Ok(light.lock().await.verify(height).await?);
        }
        let block = self.rpc.block(Some(height)).await?;
        let malformed = || TrustError::Malformed {
            url: self.rpc.url().to_string(),
            height,
        };
        let app_hash = hex::decode(&block.block.header.app_hash)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(malformed)?;
        let time = tendermint::Time::parse_from_rfc3339(&block.block.header.time)
            .map_err(|_| malformed())?;
        Ok(VerifiedHeader {
            height,
            app_hash,
            time,
        })
    }

    /// The app hash after block `height` (in the header of block
    /// `height + 1`), waiting up to 10 s for that block.
    pub async fn app_hash_after(&self, height: u64) -> Result<[u8; 32], TrustError> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let waited = tokio::time::timeout_at(deadline, async {
            loop {
                if self.rpc.latest_height().await? > height {
                    return Ok::<_, TrustError>(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
        .await;
        match waited {
            Ok(Ok(())) => Ok(self.header(height + 1).await?.app_hash),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(TrustError::NoHeaderYet(height + 1)),
        }
    }
}
