//! The dev sequencer's blocks and transaction results, kept in redb so the
//! sequencer restarts where it stopped and can answer `block` and `tx`.
//!
//! A block is written (height, time, transactions) before the ledger applies
//! it, and its results before the ledger commits: the store is never behind
//! the ledger, so after a crash every block the ledger lacks can be replayed.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use ehr_client::rpc::TxResult;

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const TXS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index");

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StoredBlock {
    pub height: u64,
    pub time: i64,
    /// Transactions, base64.
    pub txs: Vec<String>,
    /// Results in transaction order; absent until the block was applied.
    pub results: Option<Vec<TxResult>>,
    /// Hex of the app hash after this block.
    pub app_hash: String,
}

impl StoredBlock {
    /// The block's id: SHA-256 over height, time and the transactions' hashes.
    pub fn hash(&self) -> [u8; 32] {
        let mut bytes = Vec::with_capacity(16 + 32 * self.txs.len());
        bytes.extend_from_slice(&self.height.to_be_bytes());
        bytes.extend_from_slice(&self.time.to_be_bytes());
        for tx in &self.txs {
            bytes.extend_from_slice(&ehr_ledger::crypto::sha256(tx.as_bytes()));
        }
        ehr_ledger::crypto::sha256(&bytes)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the block store failed: {0}")]
pub struct StoreError(pub String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub struct BlockStore {
    db: Database,
}

impl BlockStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        {
            txn.open_table(BLOCKS).map_err(err)?;
            txn.open_table(TXS).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(Self { db })
    }

    pub fn put(&self, block: &StoredBlock) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(block).map_err(err)?;
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut blocks = txn.open_table(BLOCKS).map_err(err)?;
            blocks.insert(block.height, bytes.as_slice()).map_err(err)?;
            if block.results.is_some() {
                let mut index = txn.open_table(TXS).map_err(err)?;
                for (i, tx) in block.txs.iter().enumerate() {
                    let raw = base64_decode(tx);
                    let mut at = block.height.to_be_bytes().to_vec();
                    at.extend_from_slice(&(i as u32).to_be_bytes());
                    index
                        .insert(ehr_ledger::crypto::sha256(&raw).as_slice(), at.as_slice())
                        .map_err(err)?;
                }
            }
        }
        txn.commit().map_err(err)
    }

    pub fn get(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let blocks = txn.open_table(BLOCKS).map_err(err)?;
        match blocks.get(height).map_err(err)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(err)?)),
            None => Ok(None),
        }
    }

    pub fn latest_height(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let blocks = txn.open_table(BLOCKS).map_err(err)?;
        let last = blocks.last().map_err(err)?.map_or(0, |(k, _)| k.value());
        Ok(last)
    }

    /// Where a committed transaction is: (height, index).
    pub fn find_tx(&self, hash: &[u8; 32]) -> Result<Option<(u64, u32)>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let index = txn.open_table(TXS).map_err(err)?;
        Ok(index.get(hash.as_slice()).map_err(err)?.and_then(|v| {
            let v = v.value();
            let h = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
            let i = u32::from_be_bytes(v.get(8..12)?.try_into().ok()?);
            Some((h, i))
        }))
    }
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

pub fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
