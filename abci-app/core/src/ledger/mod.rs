//! The ledger: a deterministic state machine over the authenticated store.
//!
//! `Ledger` is what an ABCI server (or the mock consensus of the tests) drives:
//! `init_chain`, then per block `finalize_block` and `commit`; `check_tx` for
//! the mempool; `query` for readers. It knows nothing of sockets or CometBFT's
//! messages. Time is the block time handed in; nothing reads a clock, draws a
//! random number or iterates an unordered map.

pub mod access;
pub mod actions;
pub mod actors;
pub mod codes;
pub mod context;
pub mod execute;
pub mod genesis;
mod init_chain;
pub mod keys;
mod mempool;
pub mod query;
mod state_sync;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, RwLock};

use crate::proto::{ChainInfo, MemberStatus, Organisation, ParticipantKind, Role, Validator};
use crate::refusal::{Code, Refusal};
use crate::storage::{BlockState, Committed, PreparedCommit, StateRead, Storage, StorageError};
use crate::tx::{
    decode_and_verify_all, decode_and_verify_hashed, lock, SignatureCache, VerifiedTx,
};
use mempool::{MempoolView, Verdict};

pub use context::{Event, ValidatorUpdate};
pub use execute::Mode;
pub use genesis::Genesis;
pub use mempool::CheckKind;
pub use query::{QueryAnswer, QueryCode};
pub use state_sync::{ChunkVerdict, OfferVerdict, SnapshotPolicy};

/// How a node keeps its state: how many tree versions, and whether it
/// writes snapshots for joining nodes (docs/node.md, "State sync").
#[derive(Clone, Debug, Default)]
pub struct LedgerOptions {
    pub retention: crate::storage::Retention,
    pub snapshots: Option<SnapshotPolicy>,
    /// The most bytes of chunks this node takes for one snapshot when it
    /// joins by state sync (`storage::snapshot::DEFAULT_MAX_RESTORE_BYTES`
    /// unless set).
    pub max_restore_bytes: Option<u64>,
}

/// The outcome of one transaction, as ABCI reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxResult {
    pub code: Code,
    pub log: String,
    pub events: Vec<Event>,
}

impl TxResult {
    fn refused(r: Refusal) -> Self {
        Self {
            code: r.code,
            log: r.message,
            events: vec![],
        }
    }

    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }
}

#[derive(Clone, Debug)]
pub struct BlockResult {
    pub height: u64,
    pub tx_results: Vec<TxResult>,
    pub validator_updates: Vec<ValidatorUpdate>,
    pub app_hash: [u8; 32],
}

#[derive(Clone, Debug)]
pub struct InitResult {
    pub app_hash: [u8; 32],
    pub validators: Vec<ValidatorUpdate>,
}

/// Where the chain is: the last committed block and its app hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainStatus {
    pub chain_id: String,
    /// 0 until the first block is committed.
    pub block_height: u64,
    pub block_time: i64,
    pub app_hash: [u8; 32],
}

/// Failures that stop the node: the state cannot be trusted to go on.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Genesis(#[from] genesis::GenesisError),
    #[error("the chain was already initialised with another genesis (chain {0})")]
    GenesisMismatch(String),
    #[error("the chain has no genesis yet: InitChain must come first")]
    NotInitialised,
    #[error("block {got} does not follow the last committed block {last}")]
    OutOfOrder { got: u64, last: u64 },
    #[error("commit without a finalized block")]
    NothingToCommit,
    #[error("the ledger failed while applying a transaction: {0}")]
    Internal(String),
}

struct Pending {
    prepared: PreparedCommit,
    block_height: u64,
    /// The block's transactions, which leave the mempool's view at commit.
    included: HashSet<[u8; 32]>,
}

/// The ledger. Its parts have locks of their own, as penumbra splits its
/// services: consensus (the block being finalized), the mempool's view and
/// the signature cache; readers (Info, Query) take none and read the last
/// committed state from a read transaction of the store, so a query never
/// waits for a block being applied. CometBFT calls consensus methods one at
/// a time; CheckTx and queries arrive concurrently with them.
pub struct Ledger {
    storage: Storage,
    /// The chain as of the last commit (id and block time, for CheckTx).
    chain: RwLock<Option<ChainInfo>>,
    pending: Mutex<Option<Pending>>,
    mempool: Mutex<MempoolView>,
    /// Transactions whose signatures were verified by CheckTx or ProcessProposal.
    signatures: Mutex<SignatureCache>,
    snapshots: Option<state_sync::Snapshots>,
    /// The snapshot being restored, while this node joins by state sync.
    restore: Mutex<Option<state_sync::Restore>>,
    max_restore_bytes: u64,
}

impl Ledger {
    /// An archive node: every version kept, no snapshots written.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        Self::open_with(path, LedgerOptions::default())
    }

    pub fn open_with(path: &Path, options: LedgerOptions) -> Result<Self, LedgerError> {
        let storage = Storage::open(path)?.with_retention(options.retention);
        let chain = storage
            .snapshot()?
            .get::<ChainInfo>(keys::CHAIN.as_bytes())?;
        Ok(Self {
            storage,
            chain: RwLock::new(chain),
            pending: Mutex::new(None),
            mempool: Mutex::new(MempoolView::default()),
            signatures: Mutex::new(SignatureCache::default()),
            snapshots: options.snapshots.map(state_sync::Snapshots::new),
            restore: Mutex::new(None),
            max_restore_bytes: options
                .max_restore_bytes
                .unwrap_or(crate::storage::snapshot::DEFAULT_MAX_RESTORE_BYTES),
        })
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn chain_id(&self) -> Option<String> {
        self.chain().map(|c| c.chain_id)
    }

    fn chain(&self) -> Option<ChainInfo> {
        self.chain
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The last committed state, `None` before genesis: height, time and
    /// root read in one read transaction of the store, without any lock of
    /// the ledger's (a block being finalized meanwhile is not seen).
    pub fn status(&self) -> Result<Option<ChainStatus>, LedgerError> {
        let (committed, snapshot) = self.storage.committed_view()?;
        let (Some(committed), Some(chain)) = (
            committed,
            snapshot.get::<ChainInfo>(keys::CHAIN.as_bytes())?,
        ) else {
            return Ok(None);
        };
        Ok(Some(ChainStatus {
            chain_id: chain.chain_id,
            block_height: chain.block_height as u64,
            block_time: chain.block_time,
            app_hash: committed.root,
        }))
    }

    /// The height the next block must have.
    pub fn next_height(&self) -> Result<u64, LedgerError> {
        Ok(self.storage.committed()?.map_or(0, |c| c.height) + 1)
    }

    /// Takes the chain's id and time from the committed state (after a
    /// commit or a restore); what it took.
    fn reload_chain(&self) -> Result<Option<ChainInfo>, LedgerError> {
        let chain = self
            .storage
            .snapshot()?
            .get::<ChainInfo>(keys::CHAIN.as_bytes())?;
        *self
            .chain
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = chain.clone();
        Ok(chain)
    }

    fn require_chain(&self) -> Result<ChainInfo, LedgerError> {
        self.chain().ok_or(LedgerError::NotInitialised)
    }

    /// Checks a new transaction for the mempool against the committed state
    /// plus the transactions this mempool already accepted.
    pub fn check_tx(&self, bytes: &[u8]) -> Result<TxResult, LedgerError> {
        self.check_tx_of_kind(bytes, CheckKind::New)
    }

    /// CheckTx, new or recheck: a recheck of a transaction the view held
    /// before the last commit is applied again without being decoded.
    pub fn check_tx_of_kind(&self, bytes: &[u8], kind: CheckKind) -> Result<TxResult, LedgerError> {
        let chain = self.require_chain()?;
        let height = self.next_height()?;
        let snapshot = || Ok(self.storage.snapshot()?);
        let hash = crate::crypto::sha256(bytes);
        if kind == CheckKind::Recheck {
            let mut mempool = lock(&self.mempool);
            if let Some(tx) = mempool.take_verified(&hash) {
                return Ok(mempool
                    .check(snapshot, tx, height, chain.block_time)?
                    .into());
            }
        }
        let tx = match verify_one(bytes, hash, &chain.chain_id, &self.signatures) {
            Ok(tx) => tx,
            Err(r) => return Ok(TxResult::refused(r)),
        };
        let verdict = lock(&self.mempool).check(snapshot, tx, height, chain.block_time)?;
        Ok(verdict.into())
    }

    /// Transactions in the mempool's view.
    pub fn mempool_size(&self) -> usize {
        lock(&self.mempool).len()
    }

    /// PrepareProposal: the mempool's transactions, in order, that still apply
    /// on the committed state at block time `time`, within `max_tx_bytes`
    /// (counted as CometBFT counts them: each with its protobuf field overhead).
    pub fn prepare_proposal(
        &self,
        txs: &[Vec<u8>],
        max_tx_bytes: u64,
        time: i64,
    ) -> Result<Vec<Vec<u8>>, LedgerError> {
        let chain = self.require_chain()?;
        let mut state = BlockState::new(self.storage.snapshot()?);
        let height = self.next_height()?;
        let verified = decode_and_verify_all(txs, &chain.chain_id, &self.signatures);
        let (mut kept, mut used) = (Vec::new(), 0u64);
        for (bytes, tx) in txs.iter().zip(verified) {
            let size = proto_size(bytes.len());
            if used + size > max_tx_bytes {
                continue;
            }
            let Ok(tx) = tx else {
                continue;
            };
            match execute::execute(&mut state, &tx, height, time, Mode::Check) {
                Ok(_) => {
                    used += size;
                    kept.push(bytes.clone());
                }
                Err(r) if r.code == Code::Internal => return Err(LedgerError::Internal(r.message)),
                Err(_) => {}
            }
        }
        Ok(kept)
    }

    /// ProcessProposal: a block is acceptable only if every transaction in it
    /// decodes and verifies; returns the first that does not. Signatures are
    /// verified on every core.
    pub fn verify_proposal(&self, txs: &[Vec<u8>]) -> Result<(), (usize, Refusal)> {
        let chain_id = self.chain_id().unwrap_or_default();
        decode_and_verify_all(txs, &chain_id, &self.signatures)
            .into_iter()
            .enumerate()
            .find_map(|(i, r)| r.err().map(|r| (i, r)))
            .map_or(Ok(()), Err)
    }

    /// Applies a block and returns its results and app hash; nothing is
    /// written until `commit`. Signatures first, on every core; then the
    /// transactions one after another, in block order.
    pub fn finalize_block(
        &self,
        height: u64,
        time: i64,
        txs: &[Vec<u8>],
    ) -> Result<BlockResult, LedgerError> {
        let chain = self.require_chain()?;
        let last = self.storage.committed()?.map_or(0, |c| c.height);
        if height != last + 1 {
            return Err(LedgerError::OutOfOrder { got: height, last });
        }
        let hashes: Vec<[u8; 32]> = txs.iter().map(|t| crate::crypto::sha256(t)).collect();
        let verified = decode_and_verify_hashed(txs, &hashes, &chain.chain_id, &self.signatures);
        let mut state = BlockState::new(self.storage.snapshot()?);
        let mut tx_results = Vec::with_capacity(txs.len());
        let mut validator_updates = Vec::new();
        for tx in verified {
            let result = match tx {
                Err(r) => TxResult::refused(r),
                Ok(tx) => match execute::execute(&mut state, &tx, height, time, Mode::Deliver) {
                    Ok(applied) => {
                        validator_updates.extend(applied.validator_updates);
                        TxResult {
                            code: Code::Ok,
                            log: String::new(),
                            events: applied.events,
                        }
                    }
                    Err(r) if r.code == Code::Internal => {
                        return Err(LedgerError::Internal(r.message))
                    }
                    Err(r) => TxResult::refused(r),
                },
            };
            tx_results.push(result);
        }
        let included: HashSet<[u8; 32]> = hashes.into_iter().collect();
        {
            // In a block now: these bytes will not be verified again.
            let mut signatures = lock(&self.signatures);
            for hash in &included {
                signatures.remove(hash);
            }
        }
        let block_height = height as i64;
        state.put(
            keys::CHAIN,
            &ChainInfo {
                block_height,
                block_time: time,
                ..chain
            },
        );
        state.commit_tx();
        let validator_updates = set_changes(&state, validator_updates)?;
        let prepared = self.storage.prepare(height, state.into_writes())?;
        let app_hash = prepared.root;
        *lock(&self.pending) = Some(Pending {
            prepared,
            block_height: block_height as u64,
            included,
        });
        Ok(BlockResult {
            height,
            tx_results,
            validator_updates,
            app_hash,
        })
    }

    /// Makes the finalized block durable; the mempool's view starts again
    /// from it (CometBFT's recheck follows).
    pub fn commit(&self) -> Result<Committed, LedgerError> {
        let pending = lock(&self.pending)
            .take()
            .ok_or(LedgerError::NothingToCommit)?;
        let committed = self.storage.commit(pending.prepared)?;
        let chain = self.reload_chain()?;
        debug_assert_eq!(
            chain.map(|c| c.block_height as u64),
            Some(pending.block_height)
        );
        lock(&self.mempool).rebase(&pending.included);
        self.snapshot_if_due(committed.height);
        Ok(committed)
    }

    pub fn query(&self, path: &str, data: &[u8], height: u64, prove: bool) -> QueryAnswer {
        query::query(&self.storage, path, data, height, prove)
    }
}

/// Decodes and verifies one transaction, its signature skipped when cached,
/// without holding the cache's lock while verifying.
fn verify_one(
    bytes: &[u8],
    hash: [u8; 32],
    chain_id: &str,
    cache: &Mutex<SignatureCache>,
) -> Result<VerifiedTx, Refusal> {
    decode_and_verify_hashed(std::slice::from_ref(&bytes), &[hash], chain_id, cache)
        .pop()
        .unwrap_or_else(|| Err(Refusal::new(Code::Internal, "no verdict")))
}

impl From<Verdict> for TxResult {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Accepted(events) => TxResult {
                code: Code::Ok,
                log: String::new(),
                events,
            },
            Verdict::Refused(r) => TxResult::refused(r),
        }
    }
}

/// Bytes a transaction takes in a block's protobuf: tag, length, payload.
fn proto_size(len: usize) -> u64 {
    let mut varint = 1;
    let mut n = len >> 7;
    while n > 0 {
        varint += 1;
        n >>= 7;
    }
    (1 + varint + len) as u64
}

/// The validator updates of a block: the difference between the validator
/// set it started with and the one it ends with, for every validator a
/// transaction touched, in key order. Not the updates as the transactions
/// made them: a validator added and removed in one block (two proposals
/// decided together) must reach CometBFT as nothing — "remove K" for a key
/// it never had halts every validator at that height, and replay with it.
fn set_changes(
    state: &BlockState,
    touched: Vec<ValidatorUpdate>,
) -> Result<Vec<ValidatorUpdate>, LedgerError> {
    let keys: std::collections::BTreeSet<Vec<u8>> =
        touched.into_iter().map(|u| u.pub_key).collect();
    fn power(state: &impl StateRead, key: &[u8]) -> Result<i64, StorageError> {
        let v: Option<Validator> = state.get(keys::validator(key).as_bytes())?;
        Ok(v.map_or(0, |v| v.power))
    }
    let mut changes = Vec::new();
    for key in keys {
        let before = power(state.base(), &key)?;
        let after = power(state, &key)?;
        if before != after {
            changes.push(ValidatorUpdate {
                pub_key: key,
                power: after,
            });
        }
    }
    Ok(changes)
}
