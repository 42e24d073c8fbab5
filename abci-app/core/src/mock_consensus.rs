//! Mock consensus: drives a `Ledger` block by block inside one process, as
//! CometBFT would (InitChain, then FinalizeBlock + Commit per block), with a
//! deterministic clock. In the spirit of penumbra's mock-consensus `TestNode`.
//! Also: signing actors with their own nonces, and a consortium fixture.

use std::path::{Path, PathBuf};

use crate::crypto::{Address, SecretKey};
use crate::ledger::genesis::{GenesisMember, GenesisValidator};
use crate::ledger::{
    BlockResult, Genesis, Ledger, LedgerError, LedgerOptions, QueryAnswer, TxResult,
};
use crate::proto::action::Kind;
use crate::tx::sign_tx;

pub const GENESIS_TIME: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
pub const BLOCK_INTERVAL_SECS: i64 = 5;

pub struct TestNode {
    pub ledger: Ledger,
    path: PathBuf,
    /// Block time of the next block.
    pub time: i64,
}

impl TestNode {
    /// A new chain at `path` from `genesis`.
    pub fn init(path: &Path, chain_id: &str, genesis: &Genesis) -> Result<Self, LedgerError> {
        let ledger = Ledger::open(path)?;
        ledger.init_chain(chain_id, genesis, GENESIS_TIME, 1)?;
        Ok(Self {
            ledger,
            path: path.to_path_buf(),
            time: GENESIS_TIME + BLOCK_INTERVAL_SECS,
        })
    }

    /// Reopens a chain from disk, as a restarted node does.
    pub fn reopen(path: &Path) -> Result<Self, LedgerError> {
        Self::reopen_at(path, LedgerOptions::default())
    }

    /// Closes this node and opens its chain again with other options
    /// (pruning, snapshots), as an operator restarting with new flags.
    pub fn reopen_with(self, options: LedgerOptions) -> Result<Self, LedgerError> {
        let path = self.path.clone();
        drop(self);
        Self::reopen_at(&path, options)
    }

    fn reopen_at(path: &Path, options: LedgerOptions) -> Result<Self, LedgerError> {
        let ledger = Ledger::open_with(path, options)?;
        let last = ledger.status()?.map_or(GENESIS_TIME, |s| s.block_time);
        Ok(Self {
            ledger,
            path: path.to_path_buf(),
            time: last + BLOCK_INTERVAL_SECS,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn height(&self) -> u64 {
        self.ledger
            .status()
            .ok()
            .flatten()
            .map_or(0, |s| s.block_height)
    }

    pub fn app_hash(&self) -> [u8; 32] {
        self.ledger
            .status()
            .ok()
            .flatten()
            .map_or([0; 32], |s| s.app_hash)
    }

    /// Finalizes and commits one block of `txs`; the clock moves on by one interval.
    pub fn block(&mut self, txs: Vec<Vec<u8>>) -> Result<BlockResult, LedgerError> {
        let height = self.height() + 1;
        let result = self.ledger.finalize_block(height, self.time, &txs)?;
        self.ledger.commit()?;
        self.time += BLOCK_INTERVAL_SECS;
        Ok(result)
    }

    /// One transaction in a block of its own; its result.
    pub fn deliver(&mut self, tx: Vec<u8>) -> TxResult {
        match self.block(vec![tx]) {
            Ok(mut r) => r.tx_results.remove(0),
            Err(e) => panic!("the ledger failed: {e}"),
        }
    }

    /// Lets block time pass without blocks (the next block is `secs` later).
    pub fn advance_time(&mut self, secs: i64) {
        self.time += secs;
    }

    pub fn query(&self, path: &str) -> QueryAnswer {
        self.ledger.query(path, &[], 0, false)
    }
}

/// A key that signs transactions with its own nonce sequence.
pub struct Actor {
    pub key: SecretKey,
    pub nonce: u64,
    chain_id: String,
}

impl Actor {
    pub fn new(seed: &str, chain_id: &str) -> Self {
        Self {
            key: SecretKey::from_seed(seed),
            nonce: 0,
            chain_id: chain_id.to_string(),
        }
    }

    pub fn address(&self) -> Address {
        self.key.address()
    }

    pub fn addr(&self) -> Vec<u8> {
        self.address().0.to_vec()
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().to_bytes().to_vec()
    }

    /// Signs `action` with the next nonce.
    pub fn tx(&mut self, action: Kind) -> Vec<u8> {
        self.nonce += 1;
        sign_tx(&self.key, &self.chain_id, self.nonce, action)
    }

    /// Signs with an explicit nonce, leaving the sequence untouched.
    pub fn tx_with_nonce(&self, nonce: u64, action: Kind) -> Vec<u8> {
        sign_tx(&self.key, &self.chain_id, nonce, action)
    }
}

/// A valid ed25519 validator key derived from a seed.
pub fn validator_key(seed: &str) -> Vec<u8> {
    let secret = crate::crypto::sha256(seed.as_bytes());
    ed25519_dalek::SigningKey::from_bytes(&secret)
        .verifying_key()
        .to_bytes()
        .to_vec()
}

/// The genesis of a consortium of `orgs`, each with an admin (`admin@org`)
/// and one validator of power 10.
pub fn consortium_genesis(orgs: &[&str]) -> Genesis {
    Genesis {
        members: orgs
            .iter()
            .map(|o| GenesisMember {
                org_id: o.to_string(),
                name: format!("{o} hospital"),
                admin_public_key: hex::encode(
                    SecretKey::from_seed(&format!("admin@{o}"))
                        .public_key()
                        .to_bytes(),
                ),
            })
            .collect(),
        validators: orgs
            .iter()
            .map(|o| GenesisValidator {
                pub_key: hex::encode(validator_key(&format!("validator@{o}"))),
                power: 10,
                operator_org: o.to_string(),
            })
            .collect(),
        codes: crate::ledger::genesis::seed_codes(),
    }
}
