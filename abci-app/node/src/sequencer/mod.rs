//! The dev sequencer: the ledger driven in-process by its own block
//! production, serving the part of CometBFT's RPC that the clients use.
//!
//! It is a development and test mode: ONE sequencer orders transactions, with
//! no Byzantine fault tolerance — like a local Ethereum dev node. Production
//! runs the same ledger under CometBFT (`ehr-node start`).
//!
//! Each tick, pending transactions go through the same PrepareProposal,
//! FinalizeBlock and Commit as under CometBFT; the block time is the
//! sequencer's clock (as a CometBFT proposer's), stored with the block so that
//! a replay after a crash applies exactly the same block.

pub mod blockstore;
pub mod http;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use blockstore::{base64_decode, base64_encode, BlockStore, StoreError, StoredBlock};
use ehr_client::rpc::{Event, EventAttribute, TxResult};
use ehr_ledger::ledger::genesis::CometGenesis;
use ehr_ledger::ledger::{Ledger, LedgerError, TxResult as LedgerTxResult};

pub struct Config {
    pub home: PathBuf,
    /// How often pending transactions are put in a block.
    pub block_interval: Duration,
    /// How often a block is made when nothing is pending (time must move on
    /// for expiries); zero makes none.
    pub empty_block_interval: Duration,
    pub max_block_bytes: u64,
    pub mempool_limit: usize,
}

impl Config {
    pub fn new(home: &Path) -> Self {
        Self {
            home: home.to_path_buf(),
            block_interval: Duration::from_millis(500),
            empty_block_interval: Duration::from_secs(5),
            max_block_bytes: 4 * 1024 * 1024,
            mempool_limit: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Setup(String),
    #[error("the mempool is full ({0} transactions); try again in a moment")]
    MempoolFull(usize),
}

/// A transaction that made it into a committed block.
#[derive(Clone, Debug)]
pub struct CommittedTx {
    pub hash: [u8; 32],
    pub height: u64,
    pub index: u32,
    pub result: TxResult,
}

struct Mempool {
    txs: Vec<Vec<u8>>,
    hashes: HashSet<[u8; 32]>,
}

struct Inner {
    config: Config,
    chain_id: String,
    // Lock order: mempool, then ledger.
    mempool: Mutex<Mempool>,
    ledger: Mutex<Ledger>,
    store: BlockStore,
    committed: broadcast::Sender<CommittedTx>,
    last_block: Mutex<Instant>,
}

#[derive(Clone)]
pub struct Sequencer {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn to_rpc_result(r: &LedgerTxResult) -> TxResult {
    TxResult {
        code: r.code as u32,
        log: r.log.clone(),
        events: r
            .events
            .iter()
            .map(|e| Event {
                kind: e.kind.clone(),
                attributes: e
                    .attributes
                    .iter()
                    .map(|(k, v)| EventAttribute {
                        key: k.clone(),
                        value: v.clone(),
                        index: true,
                    })
                    .collect(),
            })
            .collect(),
        codespace: if r.is_ok() {
            String::new()
        } else {
            crate::abci::CODESPACE.into()
        },
        gas_wanted: "1".into(),
        gas_used: "0".into(),
        ..Default::default()
    }
}

fn now_unix() -> i64 {
    ehr_client::service::now_ms().div_euclid(1000)
}

impl Sequencer {
    /// Opens (or creates, from `genesis`) the chain in `config.home`, and
    /// replays any block the ledger had not committed when it last stopped.
    pub fn open(config: Config, genesis: Option<&CometGenesis>) -> Result<Self, SequencerError> {
        let data = config.home.join("data");
        std::fs::create_dir_all(&data)
            .map_err(|e| SequencerError::Setup(format!("cannot create {}: {e}", data.display())))?;
        let ledger = Ledger::open(&data.join("ledger.redb"))?;
        let store = BlockStore::open(&data.join("blocks.redb"))?;
        if ledger.chain_id().is_none() {
            let genesis = genesis.ok_or_else(|| {
                SequencerError::Setup(format!(
                    "{} holds no chain yet: pass --genesis with a genesis.json (write one with `ehr-node genesis`)",
                    config.home.display()
                ))
            })?;
            let app = genesis
                .ledger_genesis()
                .map_err(|e| SequencerError::Setup(e.to_string()))?;
            let time = genesis
                .genesis_unix_time()
                .map_err(|e| SequencerError::Setup(e.to_string()))?;
            ledger.init_chain(&genesis.chain_id, &app, time, genesis.initial_height())?;
            tracing::info!(chain_id = %genesis.chain_id, "genesis applied");
        }
        let chain_id = ledger.chain_id().unwrap_or_default().to_string();
        let (committed, _) = broadcast::channel(4096);
        let s = Sequencer {
            inner: Arc::new(Inner {
                config,
                chain_id,
                mempool: Mutex::new(Mempool {
                    txs: vec![],
                    hashes: HashSet::new(),
                }),
                ledger: Mutex::new(ledger),
                store,
                committed,
                last_block: Mutex::new(Instant::now()),
            }),
        };
        s.recover()?;
        Ok(s)
    }

    /// Applies stored blocks the ledger has not committed (a crash between
    /// writing a block and committing it).
    fn recover(&self) -> Result<(), SequencerError> {
        let ledger = lock(&self.inner.ledger);
        let stored = self.inner.store.latest_height()?;
        let mut next = ledger.next_height()?;
        if stored + 1 < next && stored > 0 {
            return Err(SequencerError::Setup(format!(
                "the ledger is at height {} but the block store only reaches {stored}; the data folder is damaged",
                next - 1
            )));
        }
        while next <= stored {
            let Some(mut block) = self.inner.store.get(next)? else {
                break;
            };
            let txs: Vec<Vec<u8>> = block.txs.iter().map(|t| base64_decode(t)).collect();
            let result = ledger.finalize_block(next, block.time, &txs)?;
            block.results = Some(result.tx_results.iter().map(to_rpc_result).collect());
            block.app_hash = hex::encode_upper(result.app_hash);
            self.inner.store.put(&block)?;
            ledger.commit()?;
            tracing::info!(
                height = next,
                "replayed a block the ledger had not committed"
            );
            next += 1;
        }
        Ok(())
    }

    pub fn chain_id(&self) -> &str {
        &self.inner.chain_id
    }

    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.inner.ledger)
    }

    pub fn store(&self) -> &BlockStore {
        &self.inner.store
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CommittedTx> {
        self.inner.committed.subscribe()
    }

    /// CheckTx; if accepted, the transaction waits in the mempool for a block.
    pub fn submit(&self, tx: Vec<u8>) -> Result<TxResult, SequencerError> {
        let mut mempool = lock(&self.inner.mempool);
        let hash = ehr_ledger::crypto::sha256(&tx);
        if mempool.hashes.contains(&hash) {
            return Ok(TxResult {
                code: 0,
                log: "already in the mempool".into(),
                ..Default::default()
            });
        }
        if mempool.txs.len() >= self.inner.config.mempool_limit {
            return Err(SequencerError::MempoolFull(mempool.txs.len()));
        }
        let result = lock(&self.inner.ledger).check_tx(&tx)?;
        if result.is_ok() {
            mempool.hashes.insert(hash);
            mempool.txs.push(tx);
        }
        Ok(to_rpc_result(&result))
    }

    /// Makes a block if transactions are pending, or if `empty` is allowed.
    /// Returns the height made.
    pub fn produce_block(&self, empty: bool) -> Result<Option<u64>, SequencerError> {
        let mut mempool = lock(&self.inner.mempool);
        if mempool.txs.is_empty() && !empty {
            return Ok(None);
        }
        let ledger = lock(&self.inner.ledger);
        let height = ledger.next_height()?;
        let last_time = ledger.status()?.map_or(0, |s| s.block_time);
        let time = now_unix().max(last_time);
        let txs = ledger.prepare_proposal(&mempool.txs, self.inner.config.max_block_bytes, time)?;
        let mut block = StoredBlock {
            height,
            time,
            txs: txs.iter().map(|t| base64_encode(t)).collect(),
            results: None,
            app_hash: String::new(),
        };
        self.inner.store.put(&block)?;
        let result = ledger.finalize_block(height, time, &txs)?;
        let results: Vec<TxResult> = result.tx_results.iter().map(to_rpc_result).collect();
        block.results = Some(results.clone());
        block.app_hash = hex::encode_upper(result.app_hash);
        self.inner.store.put(&block)?;
        ledger.commit()?;
        // What is left: transactions that did not fit or no longer apply,
        // rechecked against the new state as CometBFT does.
        let included: HashSet<[u8; 32]> =
            txs.iter().map(|t| ehr_ledger::crypto::sha256(t)).collect();
        let pending = std::mem::take(&mut mempool.txs);
        mempool.hashes.clear();
        for tx in pending {
            let hash = ehr_ledger::crypto::sha256(&tx);
            if included.contains(&hash) {
                continue;
            }
            if ledger.check_tx(&tx)?.is_ok() {
                mempool.hashes.insert(hash);
                mempool.txs.push(tx);
            }
        }
        drop(ledger);
        drop(mempool);
        *lock(&self.inner.last_block) = Instant::now();
        for (index, (tx, result)) in txs.iter().zip(results).enumerate() {
            let _ = self.inner.committed.send(CommittedTx {
                hash: ehr_ledger::crypto::sha256(tx),
                height,
                index: index as u32,
                result,
            });
        }
        Ok(Some(height))
    }

    /// Produces blocks until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.inner.config.block_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            let empty_due = {
                let every = self.inner.config.empty_block_interval;
                !every.is_zero() && lock(&self.inner.last_block).elapsed() >= every
            };
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.produce_block(empty_due)).await {
                Ok(Ok(Some(height))) => tracing::debug!(height, "block committed"),
                Ok(Ok(None)) => {}
                Ok(Err(error)) => {
                    // The ledger failed: stop producing rather than diverge.
                    tracing::error!(%error, "block production failed; the sequencer stops making blocks");
                    return;
                }
                Err(error) => {
                    tracing::error!(%error, "block production panicked; the sequencer stops making blocks");
                    return;
                }
            }
        }
    }
}
