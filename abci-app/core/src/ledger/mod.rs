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
pub mod context;
pub mod execute;
pub mod genesis;
mod init_chain;
pub mod keys;
pub mod query;

use std::path::Path;

use crate::proto::{ChainInfo, MemberStatus, Organisation, ParticipantKind, Role, Validator};
use crate::refusal::{Code, Refusal};
use crate::storage::{BlockState, Committed, PreparedCommit, StateRead, Storage, StorageError};
use crate::tx::{decode_and_verify_cached, SignatureCache};

pub use context::{Event, ValidatorUpdate};
pub use execute::Mode;
pub use genesis::Genesis;
pub use query::{QueryAnswer, QueryCode};

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
}

pub struct Ledger {
    storage: Storage,
    chain: Option<ChainInfo>,
    pending: Option<Pending>,
    /// The mempool's view: committed state plus transactions accepted by CheckTx
    /// since the last commit.
    mempool: Option<BlockState>,
    /// Transactions whose signatures were verified by CheckTx or ProcessProposal.
    signatures: SignatureCache,
}

impl Ledger {
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let storage = Storage::open(path)?;
        let chain = storage
            .snapshot()?
            .get::<ChainInfo>(keys::CHAIN.as_bytes())?;
        Ok(Self {
            storage,
            chain,
            pending: None,
            mempool: None,
            signatures: SignatureCache::default(),
        })
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn chain_id(&self) -> Option<&str> {
        self.chain.as_ref().map(|c| c.chain_id.as_str())
    }

    /// The last committed state, `None` before genesis.
    pub fn status(&self) -> Result<Option<ChainStatus>, LedgerError> {
        let (Some(chain), Some(committed)) = (&self.chain, self.storage.committed()?) else {
            return Ok(None);
        };
        Ok(Some(ChainStatus {
            chain_id: chain.chain_id.clone(),
            block_height: chain.block_height as u64,
            block_time: chain.block_time,
            app_hash: committed.root,
        }))
    }

    /// The height the next block must have.
    pub fn next_height(&self) -> Result<u64, LedgerError> {
        Ok(self.storage.committed()?.map_or(0, |c| c.height) + 1)
    }

    fn require_chain(&self) -> Result<&ChainInfo, LedgerError> {
        self.chain.as_ref().ok_or(LedgerError::NotInitialised)
    }

    /// Checks a transaction for the mempool against the committed state plus
    /// the transactions this mempool already accepted.
    pub fn check_tx(&mut self, bytes: &[u8]) -> Result<TxResult, LedgerError> {
        let chain = self.require_chain()?.clone();
        let tx = match decode_and_verify_cached(bytes, &chain.chain_id, &mut self.signatures) {
            Ok(tx) => tx,
            Err(r) => return Ok(TxResult::refused(r)),
        };
        if self.mempool.is_none() {
            self.mempool = Some(BlockState::new(self.storage.snapshot()?));
        }
        let height = self.next_height()?;
        let state = self.mempool.as_mut().ok_or(LedgerError::NotInitialised)?;
        match execute::execute(state, &tx, height, chain.block_time, Mode::Check) {
            Ok(applied) => Ok(TxResult {
                code: Code::Ok,
                log: String::new(),
                events: applied.events,
            }),
            Err(r) if r.code == Code::Internal => Err(LedgerError::Internal(r.message)),
            Err(r) => Ok(TxResult::refused(r)),
        }
    }

    /// PrepareProposal: the mempool's transactions, in order, that still apply
    /// on the committed state at block time `time`, within `max_tx_bytes`
    /// (counted as CometBFT counts them: each with its protobuf field overhead).
    pub fn prepare_proposal(
        &mut self,
        txs: &[Vec<u8>],
        max_tx_bytes: u64,
        time: i64,
    ) -> Result<Vec<Vec<u8>>, LedgerError> {
        let chain = self.require_chain()?.clone();
        let mut state = BlockState::new(self.storage.snapshot()?);
        let height = self.next_height()?;
        let (mut kept, mut used) = (Vec::new(), 0u64);
        for bytes in txs {
            let size = proto_size(bytes.len());
            if used + size > max_tx_bytes {
                continue;
            }
            let Ok(tx) = decode_and_verify_cached(bytes, &chain.chain_id, &mut self.signatures)
            else {
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
    /// decodes and verifies; returns the first that does not.
    pub fn verify_proposal(&mut self, txs: &[Vec<u8>]) -> Result<(), (usize, Refusal)> {
        let chain_id = self.chain_id().unwrap_or_default().to_string();
        for (i, tx) in txs.iter().enumerate() {
            decode_and_verify_cached(tx, &chain_id, &mut self.signatures).map_err(|r| (i, r))?;
        }
        Ok(())
    }

    /// Applies a block and returns its results and app hash; nothing is
    /// written until `commit`.
    pub fn finalize_block(
        &mut self,
        height: u64,
        time: i64,
        txs: &[Vec<u8>],
    ) -> Result<BlockResult, LedgerError> {
        let chain = self.require_chain()?.clone();
        let last = self.storage.committed()?.map_or(0, |c| c.height);
        if height != last + 1 {
            return Err(LedgerError::OutOfOrder { got: height, last });
        }
        let mut state = BlockState::new(self.storage.snapshot()?);
        let mut tx_results = Vec::with_capacity(txs.len());
        let mut validator_updates = Vec::new();
        for bytes in txs {
            let result =
                match decode_and_verify_cached(bytes, &chain.chain_id, &mut self.signatures) {
                    Err(r) => TxResult::refused(r),
                    Ok(tx) => {
                        match execute::execute(&mut state, &tx, height, time, Mode::Deliver) {
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
                        }
                    }
                };
            tx_results.push(result);
            // In a block now: its bytes will not be verified again.
            self.signatures.remove(&crate::crypto::sha256(bytes));
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
        let prepared = self.storage.prepare(height, state.into_writes())?;
        let app_hash = prepared.root;
        self.pending = Some(Pending {
            prepared,
            block_height: block_height as u64,
        });
        Ok(BlockResult {
            height,
            tx_results,
            validator_updates: merge_updates(validator_updates),
            app_hash,
        })
    }

    /// Makes the finalized block durable.
    pub fn commit(&mut self) -> Result<Committed, LedgerError> {
        let pending = self.pending.take().ok_or(LedgerError::NothingToCommit)?;
        let committed = self.storage.commit(pending.prepared)?;
        self.chain = self
            .storage
            .snapshot()?
            .get::<ChainInfo>(keys::CHAIN.as_bytes())?;
        debug_assert_eq!(
            self.chain.as_ref().map(|c| c.block_height as u64),
            Some(pending.block_height)
        );
        self.mempool = None;
        Ok(committed)
    }

    pub fn query(&self, path: &str, data: &[u8], height: u64, prove: bool) -> QueryAnswer {
        query::query(&self.storage, path, data, height, prove)
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

/// One update per validator, the last one winning, in key order.
fn merge_updates(updates: Vec<ValidatorUpdate>) -> Vec<ValidatorUpdate> {
    let mut merged = std::collections::BTreeMap::new();
    for u in updates {
        merged.insert(u.pub_key, u.power);
    }
    merged
        .into_iter()
        .map(|(pub_key, power)| ValidatorUpdate { pub_key, power })
        .collect()
}
