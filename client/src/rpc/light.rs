//! Light-client verification of CometBFT block headers: a reader trusts no
//! single hospital's node. A header counts only when more than two thirds of
//! the voting power of its validator set signed it, and that set is reached
//! from the consortium's genesis by CometBFT's skipping verification (each
//! step signed by more than a third of a set already trusted), as
//! `tendermint-light-client-verifier` implements it.
//!
//! The trust root is the genesis file every member holds, or a recent
//! checkpoint (a height and its header's hash) the consortium distributes:
//! a genesis root, and any header, is trusted for `TRUSTING_PERIOD` only, so
//! a client started after that needs a checkpoint, and says so. Each skip
//! needs more than two thirds of the voting power of a set already trusted
//! (`TrustThreshold::TWO_THIRDS`): with one third, as CometBFT's default, two
//! of four founding hospitals could sign a made-up chain a fresh client
//! accepts. Headers verified are kept in `<home>/light/<chain id>.json`, so
//! the next run starts from the newest one instead of from the root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tendermint::block::signed_header::SignedHeader;
use tendermint::validator::{Info, Set};
use tendermint_light_client_verifier::options::Options;
use tendermint_light_client_verifier::types::{
    TrustThreshold, TrustedBlockState, UntrustedBlockState,
};
use tendermint_light_client_verifier::{ProdVerifier, Verdict, Verifier};

use super::{RpcClient, RpcError};

/// How long a verified validator set is trusted. Consortium validators are
/// known institutions with nothing at stake to lose, so the limit guards
/// against keys of hospitals removed long ago: a year.
pub const TRUSTING_PERIOD: Duration = Duration::from_secs(365 * 24 * 3600);

/// Headers of the future are refused beyond this clock difference.
pub const CLOCK_DRIFT: Duration = Duration::from_secs(10);

/// How many verified headers are kept between runs (besides the root).
const KEPT: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum LightError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("the genesis file {path} cannot be used as the trust root: {reason}")]
    Genesis { path: String, reason: String },
    #[error(
        "the node at {url} served a header for height {height} that the consortium's validators did not sign as required ({reason}): the node is faulty or lying — do not rely on it; ask another hospital's node"
    )]
    Unverified {
        url: String,
        height: u64,
        reason: String,
    },
    #[error("the newest header this client trusts (height {height}, {time}) is older than the trusting period ({days} days): its validators may have left the consortium long ago, so nothing can be verified from it — not a sign that the node lies. Ask your consortium for a recent checkpoint (`ehr checkpoint` on a trusted machine prints one) and pass it as --trust-checkpoint <height>:<hash>")]
    TrustExpired {
        height: u64,
        time: String,
        days: u64,
    },
    #[error("--trust-checkpoint {0:?} is not <height>:<64 hex digits of the header's hash>")]
    BadCheckpoint(String),
    #[error("the node at {url} served a header for height {height} whose hash is not the checkpoint's: the node is faulty or lying, or the checkpoint is of another chain")]
    NotTheCheckpoint { url: String, height: u64 },
    #[error("the node at {url} serves chain {served}, not {expected} of the genesis file")]
    OtherChain {
        url: String,
        served: String,
        expected: String,
    },
}

/// A header verified by the validators' signatures.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TrustedBlock {
    signed_header: SignedHeader,
    /// The set that signs the next block (its hash is in the header).
    next_validators: Set,
}

impl TrustedBlock {
    fn height(&self) -> u64 {
        self.signed_header.header.height.value()
    }

    fn state(&self) -> TrustedBlockState<'_> {
        let h = &self.signed_header.header;
        TrustedBlockState {
            chain_id: &h.chain_id,
            header_time: h.time,
            height: h.height,
            next_validators: &self.next_validators,
            next_validators_hash: h.next_validators_hash,
        }
    }
}

/// What a verified header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedHeader {
    pub height: u64,
    /// The app hash after block `height - 1`.
    pub app_hash: [u8; 32],
    /// When the block was made (its header's time).
    pub time: tendermint::Time,
}

/// A header the consortium vouches for out of band: its height and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub height: u64,
    pub hash: tendermint::Hash,
}

impl std::str::FromStr for Checkpoint {
    type Err = LightError;

    /// `<height>:<64 hex digits>`, as `ehr checkpoint` prints it.
    fn from_str(s: &str) -> Result<Checkpoint, LightError> {
        let bad = || LightError::BadCheckpoint(s.to_string());
        let (height, hash) = s.trim().split_once(':').ok_or_else(bad)?;
        let height: u64 = height.parse().map_err(|_| bad())?;
        let bytes = hex::decode(hash).map_err(|_| bad())?;
        let hash = tendermint::Hash::from_bytes(tendermint::hash::Algorithm::Sha256, &bytes)
            .map_err(|_| bad())?;
        if height == 0 || bytes.len() != 32 {
            return Err(bad());
        }
        Ok(Checkpoint { height, hash })
    }
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.height, hex::encode(self.hash.as_bytes()))
    }
}

/// The verifier's options: a year of trust, two thirds to skip.
pub fn options() -> Options {
    Options {
        trust_threshold: TrustThreshold::TWO_THIRDS,
        trusting_period: TRUSTING_PERIOD,
        clock_drift: CLOCK_DRIFT,
    }
}

/// Verifies headers served by one node against the validators' signatures.
pub struct LightClient {
    rpc: RpcClient,
    verifier: ProdVerifier,
    options: Options,
    chain_id: String,
    /// Every header verified, by height; the lowest is the root.
    trusted: BTreeMap<u64, TrustedBlock>,
    store: Option<PathBuf>,
}

#[derive(Deserialize)]
struct CommitAnswer {
    signed_header: SignedHeader,
}

#[derive(Deserialize)]
struct ValidatorsAnswer {
    validators: Vec<Info>,
    total: String,
}

impl RpcClient {
    /// The header of block `height` with the commit that signed it (`/commit`).
    pub async fn signed_header(&self, height: u64) -> Result<SignedHeader, RpcError> {
        let answer: CommitAnswer = self
            .call("commit", json!({ "height": height.to_string() }))
            .await?;
        Ok(answer.signed_header)
    }

    /// The validator set of block `height` (`/validators`, every page).
    pub async fn validator_set(&self, height: u64) -> Result<Set, RpcError> {
        let mut validators = Vec::new();
        for page in 1.. {
            let answer: ValidatorsAnswer = self
                .call(
                    "validators",
                    json!({ "height": height.to_string(), "page": page.to_string(), "per_page": "100" }),
                )
                .await?;
            let total: usize = answer.total.parse().unwrap_or(0);
            let empty = answer.validators.is_empty();
            validators.extend(answer.validators);
            if empty || validators.len() >= total {
                break;
            }
        }
        Ok(Set::without_proposer(validators))
    }
}

impl LightClient {
    /// Starts from the genesis file's validators (and from headers verified
    /// before, kept under `store_dir` when given), or from `checkpoint` when
    /// given and newer than any header kept.
    pub async fn from_genesis(
        rpc: RpcClient,
        genesis: &Path,
        store_dir: Option<&Path>,
        checkpoint: Option<Checkpoint>,
    ) -> Result<LightClient, LightError> {
        let (chain_id, initial_height, validators) = read_genesis(genesis)?;
        let options = options();
        let store = store_dir.map(|d| d.join("light").join(format!("{chain_id}.json")));
        let mut client = LightClient {
            rpc,
            verifier: ProdVerifier::default(),
            options,
            chain_id,
            trusted: BTreeMap::new(),
            store,
        };
        client.load();
        match checkpoint {
            Some(c)
                if client
                    .trusted
                    .keys()
                    .next_back()
                    .is_none_or(|h| *h < c.height) =>
            {
                client.verify_checkpoint(c).await?;
            }
            _ if client.trusted.is_empty() => {
                client.verify_root(initial_height, validators).await?;
            }
            _ => {}
        }
        Ok(client)
    }

    /// The chain id of the trust root (the genesis file), never the node's word.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// The header of block `height`, verified.
    pub async fn verify(&mut self, height: u64) -> Result<VerifiedHeader, LightError> {
        let mut pending = vec![height];
        while let Some(&target) = pending.last() {
            let Some(trusted) = self
                .trusted
                .range(..=target)
                .next_back()
                .map(|(_, b)| b.clone())
            else {
                // Below the root: nothing can vouch for it.
                return Err(self.unverified(target, "it is older than the trust root"));
            };
            if trusted.height() == target {
                pending.pop();
                continue;
            }
            self.within_trust(&trusted)?;
            let untrusted = self.fetch(target).await?;
            let state = UntrustedBlockState {
                signed_header: &untrusted.signed_header,
                validators: &untrusted.validators,
                next_validators: Some(&untrusted.next_validators),
            };
            match self
                .verifier
                .verify_update_header(state, trusted.state(), &self.options, now())
            {
                Verdict::Success => {
                    self.trusted.insert(
                        target,
                        TrustedBlock {
                            signed_header: untrusted.signed_header,
                            next_validators: untrusted.next_validators,
                        },
                    );
                    pending.pop();
                }
                // Too much of the set changed since the trusted header:
                // verify one halfway first (bisection).
                Verdict::NotEnoughTrust(_) if target > trusted.height() + 1 => {
                    pending.push(trusted.height() + (target - trusted.height()) / 2);
                }
                Verdict::NotEnoughTrust(tally) => {
                    return Err(
                        self.unverified(target, &format!("not enough voting power: {tally}"))
                    )
                }
                Verdict::Invalid(detail) => {
                    return Err(self.unverified(target, &detail.to_string()))
                }
            }
        }
        self.save();
        let header = self.trusted[&height].signed_header.header.clone();
        self.forget_old();
        let app_hash = <[u8; 32]>::try_from(header.app_hash.as_bytes())
            .map_err(|_| self.unverified(height, "its app hash is not 32 bytes"))?;
        Ok(VerifiedHeader {
            height,
            app_hash,
            time: header.time,
        })
    }

    /// Refuses to verify from a header older than the trusting period, with
    /// what to do (the verifier itself would call it invalid).
    fn within_trust(&self, trusted: &TrustedBlock) -> Result<(), LightError> {
        let time = trusted.signed_header.header.time;
        let age = now().duration_since(time).unwrap_or(Duration::ZERO);
        if age > TRUSTING_PERIOD {
            return Err(LightError::TrustExpired {
                height: trusted.height(),
                time: time.to_rfc3339(),
                days: TRUSTING_PERIOD.as_secs() / 86_400,
            });
        }
        Ok(())
    }

    /// The checkpoint's header: its hash must be the one the consortium
    /// distributed, and more than two thirds of the validator set its header
    /// names must have signed it.
    async fn verify_checkpoint(&mut self, c: Checkpoint) -> Result<(), LightError> {
        let signed_header = self.rpc.signed_header(c.height).await?;
        if signed_header.header.hash() != c.hash || signed_header.commit.block_id.hash != c.hash {
            return Err(LightError::NotTheCheckpoint {
                url: self.rpc.url().to_string(),
                height: c.height,
            });
        }
        let validators = self.rpc.validator_set(c.height).await?;
        self.adopt(c.height, signed_header, validators).await?;
        self.save();
        Ok(())
    }

    /// The newest header verified so far, as a checkpoint to distribute.
    pub fn newest(&self) -> Option<Checkpoint> {
        self.trusted.values().next_back().map(|b| Checkpoint {
            height: b.height(),
            hash: b.signed_header.header.hash(),
        })
    }

    /// The first block, signed by more than two thirds of the genesis set.
    async fn verify_root(&mut self, height: u64, validators: Set) -> Result<(), LightError> {
        let signed_header = self.rpc.signed_header(height).await?;
        self.adopt(height, signed_header, validators).await
    }

    /// Trusts a header of this chain whose `validators` (the genesis set, or
    /// the set its checkpointed hash commits to) signed it with more than two
    /// thirds of their power.
    async fn adopt(
        &mut self,
        height: u64,
        signed_header: SignedHeader,
        validators: Set,
    ) -> Result<(), LightError> {
        let served = signed_header.header.chain_id.to_string();
        if served != self.chain_id {
            return Err(LightError::OtherChain {
                url: self.rpc.url().to_string(),
                served,
                expected: self.chain_id.clone(),
            });
        }
        let next_validators = self.rpc.validator_set(height + 1).await?;
        let state = UntrustedBlockState {
            signed_header: &signed_header,
            validators: &validators,
            next_validators: Some(&next_validators),
        };
        for verdict in [
            self.verifier.verify_validator_sets(&state),
            self.verifier.verify_commit(&state),
        ] {
            match verdict {
                Verdict::Success => {}
                Verdict::NotEnoughTrust(tally) => {
                    return Err(
                        self.unverified(height, &format!("not enough voting power: {tally}"))
                    )
                }
                Verdict::Invalid(detail) => {
                    return Err(self.unverified(height, &detail.to_string()))
                }
            }
        }
        self.trusted.insert(
            height,
            TrustedBlock {
                signed_header,
                next_validators,
            },
        );
        Ok(())
    }

    async fn fetch(&self, height: u64) -> Result<Untrusted, LightError> {
        Ok(Untrusted {
            signed_header: self.rpc.signed_header(height).await?,
            validators: self.rpc.validator_set(height).await?,
            next_validators: self.rpc.validator_set(height + 1).await?,
        })
    }

    fn unverified(&self, height: u64, reason: &str) -> LightError {
        LightError::Unverified {
            url: self.rpc.url().to_string(),
            height,
            reason: reason.to_string(),
        }
    }

    fn load(&mut self) {
        let Some(path) = &self.store else { return };
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        // A damaged or foreign file is ignored: verification restarts from genesis.
        if let Ok(blocks) = serde_json::from_str::<Vec<TrustedBlock>>(&text) {
            self.trusted = blocks
                .into_iter()
                .filter(|b| b.signed_header.header.chain_id.as_str() == self.chain_id)
                .map(|b| (b.height(), b))
                .collect();
        }
    }

    /// Keeps in memory, as on disk, the root and the newest headers only: a
    /// service verifies a header every block.
    fn forget_old(&mut self) {
        while self.trusted.len() > KEPT + 1 {
            let second = self.trusted.keys().nth(1).copied();
            match second {
                Some(h) => self.trusted.remove(&h),
                None => break,
            };
        }
    }

    /// Keeps the root and the newest headers.
    fn save(&self) {
        let Some(path) = &self.store else { return };
        let root = self.trusted.values().next();
        let newest = self.trusted.values().rev().take(KEPT);
        let mut kept: Vec<&TrustedBlock> = root.into_iter().chain(newest).collect();
        kept.sort_by_key(|b| b.height());
        kept.dedup_by_key(|b| b.height());
        if let (Some(dir), Ok(text)) = (path.parent(), serde_json::to_string(&kept)) {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(path, text);
        }
    }
}

struct Untrusted {
    signed_header: SignedHeader,
    validators: Set,
    next_validators: Set,
}

fn now() -> tendermint::Time {
    let ms = crate::service::now_ms();
    tendermint::Time::from_unix_timestamp(
        ms.div_euclid(1000),
        (ms.rem_euclid(1000) * 1_000_000) as u32,
    )
    .unwrap_or_else(|_| tendermint::Time::unix_epoch())
}

/// The chain id, initial height and validator set of a CometBFT genesis file.
fn read_genesis(path: &Path) -> Result<(String, u64, Set), LightError> {
    let fail = |reason: String| LightError::Genesis {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("not JSON: {e}")))?;
    let chain_id = doc["chain_id"]
        .as_str()
        .ok_or_else(|| fail("no chain_id".into()))?
        .to_string();
    let initial_height = match &doc["initial_height"] {
        serde_json::Value::String(s) => s.parse().unwrap_or(1),
        v => v.as_u64().unwrap_or(1),
    }
    .max(1);
    let listed = doc["validators"]
        .as_array()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| fail("no validators".into()))?;
    let mut validators = Vec::new();
    for v in listed {
        let key = v["pub_key"]["value"]
            .as_str()
            .and_then(|k| B64.decode(k).ok())
            .and_then(|k| tendermint::PublicKey::from_raw_ed25519(&k))
            .ok_or_else(|| fail("a validator without an ed25519 pub_key".into()))?;
        let power: u64 = match &v["power"] {
            serde_json::Value::String(s) => s.parse().ok(),
            p => p.as_u64(),
        }
        .ok_or_else(|| fail("a validator without a power".into()))?;
        let power = tendermint::vote::Power::try_from(power)
            .map_err(|e| fail(format!("a validator's power: {e}")))?;
        validators.push(Info::new(key, power));
    }
    Ok((chain_id, initial_height, Set::without_proposer(validators)))
}
