//! The chain's state read on proof, for decisions that open a key, serve a
//! record or settle an audit entry: every value read is a primitive state key
//! (a participant, a grant, an emergency access …) with its Jellyfish Merkle
//! proof against the app hash of a header the validators signed (or of the
//! dev sequencer, by explicit choice). A node may refuse to answer; it cannot
//! make a service decide on something the validators did not commit.
//!
//! `View::run` runs one of the ledger's own deterministic rules (for access,
//! `ledger::access::decide`) over proven state: the rule asks for keys, the
//! view proves the ones it has not seen and runs it again, until one run reads
//! only proven keys. So the services decide by the same code the validators
//! run, never by a computed answer that carries no proof.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use prost::Message;

use ehr_ledger::ledger::keys;
use ehr_ledger::ledger::query::{decode_proof, QueryCode};
use ehr_ledger::proto::ChainInfo;
use ehr_ledger::storage::{verify_proof, Entries, StateRead, StorageError};

use super::trust::{Anchor, Trust, TrustError, TrustRoot};
use super::{RpcClient, RpcError};

/// How old the newest header may be, unless a service is told otherwise: a
/// node further behind is serving a past in which a revoked grant still holds.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

/// How many times a rule is run at most while it asks for new keys.
const MAX_ROUNDS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ProvenError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("the node's answer for {key} at height {height} carries no valid proof against the app hash the validators signed: the node is faulty or lying")]
    Unproven { key: String, height: u64 },
    #[error("the newest header the node serves (height {height}) is {age_secs} s old, more than the {limit_secs} s allowed: the node is behind or withholding blocks, and decisions on its state could miss a revocation")]
    Stale {
        height: u64,
        age_secs: u64,
        limit_secs: u64,
    },
    #[error("the stored value under {key} does not decode: {reason}")]
    Undecodable { key: String, reason: String },
    #[error("the rule kept asking for new state after {MAX_ROUNDS} rounds")]
    Unsettled,
    #[error("the rule reads a list, which carries no proof")]
    ListRead,
}

/// Reads the chain's state on proof.
pub struct ProvenState {
    anchor: std::sync::Arc<Anchor>,
    /// The newest header may be at most this old (by the local clock).
    max_age: Duration,
}

impl ProvenState {
    pub async fn connect(
        rpc: RpcClient,
        root: &TrustRoot,
        max_age: Duration,
    ) -> Result<ProvenState, TrustError> {
        Ok(Self::over(
            std::sync::Arc::new(Anchor::connect(rpc, root).await?),
            max_age,
        ))
    }

    /// Proven state over headers checked by `anchor`, shared with others.
    pub fn over(anchor: std::sync::Arc<Anchor>, max_age: Duration) -> ProvenState {
        ProvenState { anchor, max_age }
    }

    /// The headers' source, to share with a `ChainVerifier`.
    pub fn anchor(&self) -> &std::sync::Arc<Anchor> {
        &self.anchor
    }

    pub fn trust(&self) -> &Trust {
        self.anchor.trust()
    }

    pub fn rpc(&self) -> &RpcClient {
        self.anchor.rpc()
    }

    /// A view of the state after the newest block whose app hash a signed
    /// header carries: the node's latest height minus one, the app hash from
    /// the latest header, which must be recent.
    pub async fn latest(&self) -> Result<View<'_>, ProvenError> {
        let latest = self.rpc().latest_height().await?;
        if latest < 2 {
            // A chain just born: its first block is proven by the second,
            // a block interval away.
            return self.after(1).await;
        }
        let header = self.anchor.header(latest.max(2)).await?;
        let age = crate::service::now_ms()
            .saturating_sub(header.time.unix_timestamp() * 1000)
            .max(0) as u64;
        if age > self.max_age.as_millis() as u64 {
            return Err(ProvenError::Stale {
                height: header.height,
                age_secs: age / 1000,
                limit_secs: self.max_age.as_secs(),
            });
        }
        self.at(header.height - 1, header.app_hash).await
    }

    /// A view of the newest state a signed header proves, whatever its age:
    /// for what never changes once written (a code's entry in the
    /// directory), where a node behind serves it as well as any.
    pub async fn settled(&self) -> Result<View<'_>, ProvenError> {
        let latest = self.rpc().latest_height().await?;
        self.after(latest.saturating_sub(1).max(1)).await
    }

    /// A view of the state after the newest block, waiting for the header
    /// that proves it (a block interval at most): for a decision that must
    /// see what was just committed (a document sealed for the readers of a
    /// grant made a moment ago).
    pub async fn newest(&self) -> Result<View<'_>, ProvenError> {
        // From a fresh view (its header's age checked), one block on.
        let fresh = self.latest().await?.height;
        self.after(fresh + 1).await
    }

    /// A view of the state after block `height`.
    pub async fn after(&self, height: u64) -> Result<View<'_>, ProvenError> {
        let app_hash = self.anchor.app_hash_after(height).await?;
        self.at(height, app_hash).await
    }

    async fn at(&self, height: u64, app_hash: [u8; 32]) -> Result<View<'_>, ProvenError> {
        let mut view = View::trusting(self.rpc(), height, app_hash);
        view.prove([keys::CHAIN.as_bytes().to_vec()]).await?;
        Ok(view)
    }
}

/// Proven state at one height.
pub struct View<'a> {
    rpc: &'a RpcClient,
    pub height: u64,
    pub app_hash: [u8; 32],
    values: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> View<'a> {
    /// A view of the state after block `height` with an app hash the caller
    /// trusts from elsewhere (a checkpoint on Ethereum), not from headers:
    /// every value is still proven, against that hash.
    pub fn trusting(rpc: &'a RpcClient, height: u64, app_hash: [u8; 32]) -> View<'a> {
        View {
            rpc,
            height,
            app_hash,
            values: BTreeMap::new(),
        }
    }

    /// The node asked (for lists, which name candidates only).
    pub fn rpc(&self) -> &'a RpcClient {
        self.rpc
    }

    /// The block time of the view's height (the ledger's "now" for rules).
    pub fn block_time(&self) -> i64 {
        self.values
            .get(keys::CHAIN.as_bytes())
            .and_then(|v| v.as_deref())
            .and_then(|v| ChainInfo::decode(v).ok())
            .map_or(0, |c| c.block_time)
    }

    /// Proves `keys` not proven yet, all at once.
    pub async fn prove(
        &mut self,
        keys: impl IntoIterator<Item = Vec<u8>>,
    ) -> Result<(), ProvenError> {
        let wanted: BTreeSet<Vec<u8>> = keys
            .into_iter()
            .filter(|k| !self.values.contains_key(k))
            .collect();
        let answers = futures_util::future::join_all(wanted.iter().map(|k| self.fetch(k))).await;
        for (key, value) in wanted.into_iter().zip(answers) {
            self.values.insert(key, value?);
        }
        Ok(())
    }

    /// The value under `key`, proven.
    pub async fn get<M: Message + Default>(&mut self, key: &str) -> Result<Option<M>, ProvenError> {
        let k = key.as_bytes().to_vec();
        self.prove([k.clone()]).await?;
        match self.values.get(&k).and_then(|v| v.as_deref()) {
            None => Ok(None),
            Some(bytes) => M::decode(bytes)
                .map(Some)
                .map_err(|e| ProvenError::Undecodable {
                    key: key.to_string(),
                    reason: e.to_string(),
                }),
        }
    }

    /// Runs a deterministic rule over proven state (see the module's note).
    pub async fn run<T>(&mut self, rule: impl Fn(&Reads) -> T) -> Result<T, ProvenError> {
        for _ in 0..MAX_ROUNDS {
            let reads = Reads {
                values: &self.values,
                missing: RefCell::new(BTreeSet::new()),
                listed: RefCell::new(false),
            };
            let outcome = rule(&reads);
            if *reads.listed.borrow() {
                return Err(ProvenError::ListRead);
            }
            let missing = reads.missing.into_inner();
            if missing.is_empty() {
                return Ok(outcome);
            }
            self.prove(missing).await?;
        }
        Err(ProvenError::Unsettled)
    }

    /// One key with its proof, checked against the view's app hash under
    /// the key asked (never a key the node names).
    async fn fetch(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ProvenError> {
        let r = self
            .rpc
            .abci_query("/store", key, self.height, true)
            .await?;
        let unproven = || ProvenError::Unproven {
            key: String::from_utf8_lossy(key).to_string(),
            height: self.height,
        };
        let value = match r.code {
            c if c == QueryCode::Ok as u32 => Some(
                B64.decode(r.value.as_deref().unwrap_or_default())
                    .map_err(|_| unproven())?,
            ),
            c if c == QueryCode::NotFound as u32 => None,
            code => {
                return Err(RpcError::Query {
                    path: format!("/store {}", String::from_utf8_lossy(key)),
                    code,
                    log: r.log,
                }
                .into())
            }
        };
        if r.height.parse::<u64>().ok() != Some(self.height) {
            return Err(unproven());
        }
        let op = r
            .proof_ops
            .as_ref()
            .and_then(|p| p.ops.first())
            .ok_or_else(unproven)?;
        let proof = B64
            .decode(&op.data)
            .ok()
            .and_then(|b| decode_proof(&b).ok())
            .ok_or_else(unproven)?;
        verify_proof(self.app_hash, key, value.as_deref(), &proof).map_err(|_| unproven())?;
        Ok(value)
    }
}

/// What a rule sees: the proven values; a key not proven yet reads as
/// absent and is noted, and the rule is run again once it is proven.
pub struct Reads<'a> {
    values: &'a BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    missing: RefCell<BTreeSet<Vec<u8>>>,
    listed: RefCell<bool>,
}

impl StateRead for Reads<'_> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        match self.values.get(key) {
            Some(v) => Ok(v.clone()),
            None => {
                self.missing.borrow_mut().insert(key.to_vec());
                Ok(None)
            }
        }
    }

    fn scan_raw(&self, _prefix: &[u8], _limit: usize) -> Result<Entries, StorageError> {
        *self.listed.borrow_mut() = true;
        Ok(Vec::new())
    }
}
