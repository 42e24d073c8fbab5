//! The authenticated, crash-safe store under the ledger.
//!
//! State is a map from byte keys to byte values. Its commitment (the app hash)
//! is the root of a Jellyfish Merkle tree (the `jmt` crate, as penumbra uses)
//! over SHA-256(key) → value, one tree version per block height. Everything a
//! block changes — tree nodes, versioned values, the flat "latest" table that
//! serves prefix scans, the committed height and root — is written in a single
//! redb write transaction, so after a crash the store is exactly at the last
//! commit, never between two. docs/ledger.md ("State") says why these two.

mod delta;
pub mod snapshot;
mod tree;

pub use delta::{BlockState, StateRead};

/// Key–value pairs in key order, as prefix scans return them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

use std::collections::BTreeMap;
use std::path::Path;

use jmt::storage::{NodeBatch, StaleNodeIndexBatch};
use jmt::{KeyHash, Sha256Jmt};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use tree::{TreeSnapshot, NODES, STALE, VALUES};

/// SHA-256 over the key, as the tree addresses values.
pub fn key_hash(key: &[u8]) -> KeyHash {
    use sha2::Digest;
    KeyHash(sha2::Sha256::digest(key).into())
}

/// The proof type returned with queries: a Jellyfish Merkle sparse proof.
pub type StateProof = jmt::proof::SparseMerkleProof<sha2::Sha256>;

const LATEST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("latest");
/// key hash → key: the keys of `LATEST` in the tree's order, so that a
/// snapshot can be cut in that order (each chunk then proves itself against
/// the app hash with a range proof).
const PREIMAGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("key_preimages");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const META_HEIGHT: &str = "height";
const META_ROOT: &str = "root";
/// The first height whose tree (and so whose proofs) this store still has:
/// 0 unless old versions were pruned or the state came from a snapshot.
const META_EARLIEST: &str = "earliest";

/// At most this many stale nodes and values are deleted with one block, so
/// that turning pruning on for a long history does not stall one commit.
const PRUNE_PER_COMMIT: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the state database failed: {0}")]
    Database(String),
    #[error("the state tree failed: {0}")]
    Tree(String),
    #[error("height {requested} is not available (latest committed height is {latest})")]
    HeightUnavailable { requested: u64, latest: u64 },
    #[error("commit out of order: prepared height {prepared}, committed height {committed}")]
    OutOfOrder { prepared: u64, committed: u64 },
    #[error(
        "height {requested} is no longer kept by this node: it keeps heights from {earliest} on \
         (older ones were pruned, or it joined from a snapshot); ask an archive node"
    )]
    Pruned { requested: u64, earliest: u64 },
    #[error("a snapshot can only be restored into an empty store (this one is at height {0})")]
    NotEmpty(u64),
    #[error(
        "the restored state's root {got} is not the app hash {expected} the chain committed to"
    )]
    RootMismatch { expected: String, got: String },
}

/// Why a state proof does not hold: it does not decode, or it does not prove
/// the value (or absence) under the key against the root.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("the proof does not decode: {0}")]
    Undecodable(String),
    #[error("the proof does not hold against the app hash: {0}")]
    Invalid(String),
}

fn db_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Database(e.to_string())
}

/// Height and root of the last commit; `None` before genesis was committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    pub height: u64,
    pub root: [u8; 32],
}

/// Row counts of the tree's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeRows {
    pub nodes: u64,
    pub values: u64,
    /// Entries of the index of what later versions made stale.
    pub stale: u64,
}

/// Where one table's bytes go (redb's own count): its keys and values, its
/// page and entry headers, and the free space inside its pages.
#[derive(Debug, Clone, Copy)]
pub struct TableBytes {
    pub table: &'static str,
    pub entries: u64,
    pub stored: u64,
    pub metadata: u64,
    pub fragmented: u64,
    pub pages: u64,
}

/// Changes of one block, with the root they lead to, ready to be written.
pub struct PreparedCommit {
    pub height: u64,
    pub root: [u8; 32],
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    nodes: NodeBatch,
    stale: StaleNodeIndexBatch,
}

/// How many tree versions the store keeps: every one (the default, an
/// archive node), or the last `n` heights (older proofs are refused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Retention {
    #[default]
    Everything,
    LastHeights(u64),
}

impl Retention {
    /// The earliest height still kept once `height` is committed.
    fn earliest(self, height: u64, before: u64) -> u64 {
        match self {
            Retention::Everything => before,
            Retention::LastHeights(n) => before.max((height + 1).saturating_sub(n.max(1))),
        }
    }
}

pub struct Storage {
    db: Database,
    retention: Retention,
}

impl Storage {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::create(path).map_err(db_err)?;
        let storage = Self {
            db,
            retention: Retention::Everything,
        };
        // A store with no commit holds nothing that counts: what is there is
        // left by a snapshot restore that did not finish. Start empty.
        if storage.committed()?.is_none() {
            storage.clear()?;
        }
        storage.index_preimages()?;
        if let Some(c) = storage.committed()? {
            if tree::rekey_legacy_nodes(&storage.db, c.height)? {
                tracing::info!(
                    height = c.height,
                    "state store: tree nodes moved to keys by version first"
                );
            }
        }
        Ok(storage)
    }

    /// A store written before keys were indexed by their hash gets the index
    /// once, from its latest state.
    fn index_preimages(&self) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let indexed = {
            let latest = txn.open_table(LATEST).map_err(db_err)?;
            let preimages = txn.open_table(PREIMAGES).map_err(db_err)?;
            preimages.len().map_err(db_err)? == latest.len().map_err(db_err)?
        };
        if indexed {
            return txn.abort().map_err(db_err);
        }
        {
            let latest = txn.open_table(LATEST).map_err(db_err)?;
            let mut preimages = txn.open_table(PREIMAGES).map_err(db_err)?;
            preimages.retain(|_, _| false).map_err(db_err)?;
            for entry in latest.iter().map_err(db_err)? {
                let (key, _) = entry.map_err(db_err)?;
                preimages
                    .insert(key_hash(key.value()).0.as_slice(), key.value())
                    .map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)
    }

    /// Keeps only what `retention` asks, from the next commit on.
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Empties every table (and creates them, so readers never meet a
    /// missing table).
    fn clear(&self) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        txn.delete_table(LATEST).map_err(db_err)?;
        txn.delete_table(META).map_err(db_err)?;
        txn.delete_table(NODES).map_err(db_err)?;
        txn.delete_table(VALUES).map_err(db_err)?;
        txn.delete_table(STALE).map_err(db_err)?;
        txn.delete_table(PREIMAGES).map_err(db_err)?;
        txn.delete_table(tree::LEGACY_NODES).map_err(db_err)?;
        txn.delete_table(tree::LEGACY_STALE).map_err(db_err)?;
        {
            txn.open_table(PREIMAGES).map_err(db_err)?;
            txn.open_table(LATEST).map_err(db_err)?;
            txn.open_table(META).map_err(db_err)?;
            txn.open_table(NODES).map_err(db_err)?;
            txn.open_table(VALUES).map_err(db_err)?;
            txn.open_table(STALE).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    /// The last commit; `None` before genesis (and in a new file, whose
    /// tables do not exist yet).
    pub fn committed(&self) -> Result<Option<Committed>, StorageError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        match txn.open_table(META) {
            Ok(meta) => read_committed(&meta),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(db_err(e)),
        }
    }

    /// The first height whose proofs this store can still give.
    pub fn earliest(&self) -> Result<u64, StorageError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        read_u64(&txn.open_table(META).map_err(db_err)?, META_EARLIEST)
    }

    /// The last commit and the state it committed, from one read
    /// transaction: a commit landing meanwhile is in neither or in both.
    pub fn committed_view(&self) -> Result<(Option<Committed>, Snapshot), StorageError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let meta = txn.open_table(META).map_err(db_err)?;
        let latest = txn.open_table(LATEST).map_err(db_err)?;
        Ok((read_committed(&meta)?, Snapshot { latest }))
    }

    /// A consistent read view of the latest committed state.
    pub fn snapshot(&self) -> Result<Snapshot, StorageError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let latest = txn.open_table(LATEST).map_err(db_err)?;
        Ok(Snapshot { latest })
    }

    /// Computes the root that `writes` lead to at `height`, without writing.
    pub fn prepare(
        &self,
        height: u64,
        writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<PreparedCommit, StorageError> {
        let reader = TreeSnapshot::open(&self.db)?;
        let tree = Sha256Jmt::new(&reader);
        let value_set = writes.iter().map(|(k, v)| (key_hash(k), v.clone()));
        let (root, batch) = tree
            .put_value_set(value_set, height)
            .map_err(|e| StorageError::Tree(e.to_string()))?;
        Ok(PreparedCommit {
            height,
            root: root.0,
            writes,
            nodes: batch.node_batch,
            stale: batch.stale_node_index_batch,
        })
    }

    /// Writes a prepared block durably, in one transaction.
    pub fn commit(&self, prepared: PreparedCommit) -> Result<Committed, StorageError> {
        if let Some(c) = self.committed()? {
            if prepared.height <= c.height {
                return Err(StorageError::OutOfOrder {
                    prepared: prepared.height,
                    committed: c.height,
                });
            }
        }
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut latest = txn.open_table(LATEST).map_err(db_err)?;
            let mut preimages = txn.open_table(PREIMAGES).map_err(db_err)?;
            for (key, value) in &prepared.writes {
                let hash = key_hash(key).0;
                match value {
                    Some(v) => {
                        latest
                            .insert(key.as_slice(), v.as_slice())
                            .map_err(db_err)?;
                        preimages
                            .insert(hash.as_slice(), key.as_slice())
                            .map_err(db_err)?;
                    }
                    None => {
                        latest.remove(key.as_slice()).map_err(db_err)?;
                        preimages.remove(hash.as_slice()).map_err(db_err)?;
                    }
                };
            }
            tree::write_node_batch(&txn, &prepared.nodes, Some(&prepared.stale))?;
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let before = read_u64(&meta, META_EARLIEST)?;
            let earliest = self.retention.earliest(prepared.height, before);
            write_meta(&mut meta, prepared.height, prepared.root, earliest)?;
            tree::prune(&txn, earliest, PRUNE_PER_COMMIT)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(Committed {
            height: prepared.height,
            root: prepared.root,
        })
    }

    /// The value under `key` at a committed `height`, with its proof against
    /// that height's root (an absence proof when there is no value).
    pub fn get_with_proof(
        &self,
        key: &[u8],
        height: u64,
    ) -> Result<(Option<Vec<u8>>, StateProof), StorageError> {
        let latest = self.committed()?.map(|c| c.height);
        match latest {
            Some(l) if height <= l => {}
            _ => {
                return Err(StorageError::HeightUnavailable {
                    requested: height,
                    latest: latest.unwrap_or(0),
                })
            }
        }
        let earliest = self.earliest()?;
        if height < earliest {
            return Err(StorageError::Pruned {
                requested: height,
                earliest,
            });
        }
        let reader = TreeSnapshot::open(&self.db)?;
        let tree = Sha256Jmt::new(&reader);
        tree.get_with_proof(key_hash(key), height)
            .map_err(|e| StorageError::Tree(e.to_string()))
    }

    /// How many tree nodes and versioned values the store holds (all kept
    /// versions together): what pruning bounds.
    pub fn tree_rows(&self) -> Result<TreeRows, StorageError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let count = |t: TableDefinition<&[u8], &[u8]>| -> Result<u64, StorageError> {
            txn.open_table(t).map_err(db_err)?.len().map_err(db_err)
        };
        Ok(TreeRows {
            nodes: count(NODES)?,
            values: count(VALUES)?,
            stale: count(STALE)?,
        })
    }

    /// Every table's bytes: which of the state's structures a transaction's
    /// bytes go to (docs/BENCHMARKS.md, "State growth").
    pub fn table_bytes(&self) -> Result<Vec<TableBytes>, StorageError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let of = |table: &'static str, t: &dyn ReadableTableMetadata| {
            let s = t.stats().map_err(db_err)?;
            Ok::<_, StorageError>(TableBytes {
                table,
                entries: t.len().map_err(db_err)?,
                stored: s.stored_bytes(),
                metadata: s.metadata_bytes(),
                fragmented: s.fragmented_bytes(),
                pages: s.leaf_pages() + s.branch_pages(),
            })
        };
        let mut all = Vec::new();
        for (name, t) in [
            ("latest", LATEST),
            ("key_preimages", PREIMAGES),
            ("jmt_values", VALUES),
            ("jmt_nodes_v2", NODES),
            ("jmt_stale_v2", STALE),
        ] {
            all.push(of(name, &txn.open_table(t).map_err(db_err)?)?);
        }
        all.push(of("meta", &txn.open_table(META).map_err(db_err)?)?);
        Ok(all)
    }

    /// Bytes the store's pages hold (data, metadata and free space inside
    /// allocated pages), which the file's size only bounds: redb grows its
    /// file in large steps.
    pub fn used_bytes(&self) -> Result<u64, StorageError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let stats = txn.stats().map_err(db_err)?;
        let used = stats.allocated_pages() * stats.page_size() as u64;
        txn.abort().map_err(db_err)?;
        Ok(used)
    }

    /// Adds one checked chunk of a snapshot to an empty store: its entries
    /// and the tree nodes the restore froze with them. They count for
    /// nothing until `finish_restore` commits the root.
    pub fn restore_chunk(&self, entries: &Entries, nodes: &NodeBatch) -> Result<(), StorageError> {
        if let Some(c) = self.committed()? {
            return Err(StorageError::NotEmpty(c.height));
        }
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut latest = txn.open_table(LATEST).map_err(db_err)?;
            let mut preimages = txn.open_table(PREIMAGES).map_err(db_err)?;
            for (key, value) in entries {
                latest
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(db_err)?;
                preimages
                    .insert(key_hash(key).0.as_slice(), key.as_slice())
                    .map_err(db_err)?;
            }
            // Nothing before the snapshot exists here: no stale index to keep.
            tree::write_node_batch(&txn, nodes, None)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Drops the entries of a restore that will not finish.
    pub fn abandon_restore(&self) -> Result<(), StorageError> {
        if let Some(c) = self.committed()? {
            return Err(StorageError::NotEmpty(c.height));
        }
        self.clear()
    }

    /// Writes the last nodes of a restored tree (its root among them) and
    /// commits it as version `height` only if its root is `expected_root`,
    /// the app hash the chain's validators signed; otherwise the store is
    /// emptied again.
    pub fn finish_restore(
        &self,
        height: u64,
        expected_root: [u8; 32],
        nodes: &NodeBatch,
    ) -> Result<Committed, StorageError> {
        if let Some(c) = self.committed()? {
            return Err(StorageError::NotEmpty(c.height));
        }
        let outcome = self.commit_restored_root(height, expected_root, nodes);
        if outcome.is_err() {
            self.clear()?;
        }
        outcome
    }

    fn commit_restored_root(
        &self,
        height: u64,
        expected_root: [u8; 32],
        nodes: &NodeBatch,
    ) -> Result<Committed, StorageError> {
        let root = tree::root_in(nodes, height);
        if root != Some(expected_root) {
            return Err(StorageError::RootMismatch {
                expected: hex::encode(expected_root),
                got: root.map_or_else(|| "missing".to_string(), hex::encode),
            });
        }
        let txn = self.db.begin_write().map_err(db_err)?;
        tree::write_node_batch(&txn, nodes, None)?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            write_meta(&mut meta, height, expected_root, height)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(Committed {
            height,
            root: expected_root,
        })
    }
}

fn write_meta(
    meta: &mut redb::Table<&'static str, &'static [u8]>,
    height: u64,
    root: [u8; 32],
    earliest: u64,
) -> Result<(), StorageError> {
    meta.insert(META_HEIGHT, height.to_be_bytes().as_slice())
        .map_err(db_err)?;
    meta.insert(META_ROOT, root.as_slice()).map_err(db_err)?;
    meta.insert(META_EARLIEST, earliest.to_be_bytes().as_slice())
        .map_err(db_err)?;
    Ok(())
}

fn read_u64(
    meta: &impl redb::ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<u64, StorageError> {
    match meta.get(key).map_err(db_err)? {
        None => Ok(0),
        Some(v) => Ok(u64::from_be_bytes(v.value().try_into().map_err(db_err)?)),
    }
}

fn read_committed(
    meta: &redb::ReadOnlyTable<&'static str, &'static [u8]>,
) -> Result<Option<Committed>, StorageError> {
    let height = meta.get(META_HEIGHT).map_err(db_err)?;
    let root = meta.get(META_ROOT).map_err(db_err)?;
    match (height, root) {
        (Some(h), Some(r)) => {
            let height = u64::from_be_bytes(h.value().try_into().map_err(db_err)?);
            let root: [u8; 32] = r.value().try_into().map_err(db_err)?;
            Ok(Some(Committed { height, root }))
        }
        _ => Ok(None),
    }
}

/// Read view of the latest committed state.
pub struct Snapshot {
    latest: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Snapshot {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .latest
            .get(key)
            .map_err(db_err)?
            .map(|v| v.value().to_vec()))
    }

    /// Entries under `prefix` whose key is at least `from`, in key order, at most `limit`.
    pub fn read_prefix_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let mut out = Vec::new();
        let start = if from > prefix { from } else { prefix };
        for item in self.latest.range::<&[u8]>(start..).map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            if !k.value().starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Every (key, value) whose key starts with `prefix`, in key order, at most `limit`.
    fn read_prefix(&self, prefix: &[u8], limit: usize) -> Result<Entries, StorageError> {
        let mut out = Vec::new();
        for item in self.latest.range::<&[u8]>(prefix..).map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            if !k.value().starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }
}

/// Verifies that `value` (or its absence) is what `root` commits to under `key`.
pub fn verify_proof(
    root: [u8; 32],
    key: &[u8],
    value: Option<&[u8]>,
    proof: &StateProof,
) -> Result<(), ProofError> {
    proof
        .verify(jmt::RootHash(root), key_hash(key), value)
        .map_err(|e| ProofError::Invalid(e.to_string()))
}
