//! State-sync snapshots: the committed state at one height, cut into chunks
//! that a joining node fetches from its peers and checks one by one.
//!
//! Format 2 is the flat state in the tree's order — every (key, value)
//! sorted by SHA-256(key) — cut at entry boundaries into chunks of about
//! `CHUNK_BYTES`. A chunk is `u32 BE proof length ‖ borsh(range proof) ‖`
//! entries as `u32 BE key length ‖ key ‖ u32 BE value length ‖ value`; the
//! range proof holds the tree's hashes to the right of the chunk's last key,
//! so that the entries received so far prove themselves against the app
//! hash the validators signed — chunk by chunk, before anything of the
//! chunk is kept. A joining node therefore writes only state that is the
//! chain's, holds one chunk and one path of the tree in memory whatever the
//! state's size, and stops at the first chunk that is not the chain's.
//!
//! A snapshot's metadata is the SHA-256 of each chunk in order and its hash
//! the SHA-256 of the metadata; the same state gives the same chunks on
//! every validator, so a joining node may take each chunk from any of them.
//! Only the state is carried: the tree's history stays with archive nodes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use std::sync::{mpsc, Arc, Mutex};

use borsh::BorshDeserialize;
use jmt::proof::SparseMerkleRangeProof;
use jmt::restore::{JellyfishMerkleRestore, StateSnapshotReceiver};
use jmt::storage::{NodeBatch, TreeWriter};
use jmt::{KeyHash, RootHash, Sha256Jmt};
use redb::{ReadableDatabase, ReadableTable};

use super::tree::TreeSnapshot;
use super::{db_err, key_hash, Committed, Entries, Storage, StorageError, LATEST, PREIMAGES};
use crate::crypto::sha256;

/// The only format this ledger writes and reads.
pub const FORMAT: u32 = 2;
/// A chunk closes at the first entry boundary past this size (unless a
/// node is told otherwise; tests use small chunks to have many).
pub const CHUNK_BYTES: usize = 4 << 20;
/// The largest chunk a joining node reads: CometBFT carries no larger one
/// (16 MB), and one chunk is what a restore holds in memory.
pub const MAX_CHUNK_BYTES: usize = 16_000_000;
/// The most chunks an offer may announce: its metadata (32 bytes each)
/// is held for the whole restore.
pub const MAX_CHUNKS: u32 = 20_000;
/// The most bytes of chunks a joining node takes for one snapshot unless
/// its operator says otherwise: what it will write to disk at most.
pub const DEFAULT_MAX_RESTORE_BYTES: u64 = 64 << 30;
/// A range proof has at most 256 siblings of a few dozen bytes.
const MAX_PROOF_BYTES: usize = 64 << 10;

type RangeProof = SparseMerkleRangeProof<sha2::Sha256>;

/// What identifies a snapshot and lets each of its chunks be checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub height: u64,
    pub format: u32,
    pub chunk_hashes: Vec<[u8; 32]>,
}

impl Manifest {
    /// The chunks' hashes, concatenated: the metadata CometBFT carries.
    pub fn metadata(&self) -> Vec<u8> {
        self.chunk_hashes.concat()
    }

    pub fn hash(&self) -> [u8; 32] {
        sha256(&self.metadata())
    }

    pub fn chunks(&self) -> u32 {
        self.chunk_hashes.len() as u32
    }

    /// The manifest of a snapshot a peer offers, if it is one this ledger
    /// can restore; otherwise why not.
    pub fn from_offer(
        height: u64,
        format: u32,
        chunks: u32,
        hash: &[u8],
        metadata: &[u8],
    ) -> Result<Manifest, OfferRefusal> {
        if format != FORMAT {
            return Err(OfferRefusal::Format(format));
        }
        if height == 0 || chunks == 0 || chunks > MAX_CHUNKS {
            return Err(OfferRefusal::Invalid(format!(
                "a snapshot at height {height} in {chunks} chunks (1 to {MAX_CHUNKS} chunks above height 0 expected)"
            )));
        }
        if metadata.len() != 32 * chunks as usize {
            return Err(OfferRefusal::Invalid(format!(
                "its metadata has {} bytes, not 32 per chunk for {chunks} chunks",
                metadata.len()
            )));
        }
        let manifest = Manifest {
            height,
            format,
            chunk_hashes: metadata
                .chunks_exact(32)
                .map(|c| c.try_into().expect("32 bytes"))
                .collect(),
        };
        if manifest.hash().as_slice() != hash {
            return Err(OfferRefusal::Invalid(
                "its hash is not the hash of its metadata".into(),
            ));
        }
        Ok(manifest)
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + 32 * self.chunk_hashes.len());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.format.to_be_bytes());
        out.extend_from_slice(&self.metadata());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Manifest> {
        let height = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let format = u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
        let rest = bytes.get(12..)?;
        if rest.len() % 32 != 0 {
            return None;
        }
        Some(Manifest {
            height,
            format,
            chunk_hashes: rest
                .chunks_exact(32)
                .map(|c| c.try_into().expect("32 bytes"))
                .collect(),
        })
    }
}

/// Why an offered snapshot is not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OfferRefusal {
    #[error("snapshot format {0} is not one this ledger reads (it reads format {FORMAT})")]
    Format(u32),
    #[error("the offered snapshot is not well formed: {0}")]
    Invalid(String),
}

/// Why a chunk cannot be taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("the chunk ends inside an entry at byte {0}")]
    Truncated(usize),
    #[error("the chunk's keys are not in strictly increasing order of their hash at entry {0}")]
    OutOfOrder(usize),
    #[error("the chunk holds no entry")]
    Empty,
    #[error("the chunk's range proof does not decode: {0}")]
    Proof(String),
    #[error("the chunk does not prove against the app hash the chain signed: {0}")]
    NotTheChains(String),
}

/// The state as of one commit, held by a read transaction of the store:
/// commits go on meanwhile and are not seen.
pub struct Export {
    pub committed: Committed,
    latest: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    preimages: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    tree: TreeSnapshot,
}

impl Storage {
    /// The state of the last commit, to be written as a snapshot.
    pub fn export(&self) -> Result<Option<Export>, StorageError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let meta = txn.open_table(super::META).map_err(db_err)?;
        let Some(committed) = super::read_committed(&meta)? else {
            return Ok(None);
        };
        Ok(Some(Export {
            committed,
            latest: txn.open_table(LATEST).map_err(db_err)?,
            preimages: txn.open_table(PREIMAGES).map_err(db_err)?,
            tree: TreeSnapshot::within(&txn)?,
        }))
    }
}

impl Export {
    /// Cuts the state, in the tree's order, into chunks of about
    /// `chunk_bytes`, each with the range proof of its last key, handing
    /// each to `sink` in order.
    pub fn chunks(
        &self,
        chunk_bytes: usize,
        mut sink: impl FnMut(Vec<u8>) -> io::Result<()>,
    ) -> Result<(), SnapshotError> {
        let mut entries = Vec::new();
        let mut last = None;
        for entry in self.preimages.iter().map_err(db_err)? {
            let (hash, key) = entry.map_err(db_err)?;
            let value = self
                .latest
                .get(key.value())
                .map_err(db_err)?
                .ok_or_else(|| {
                    StorageError::Database("a key of the hash index has no value".into())
                })?;
            encode_entry(&mut entries, key.value(), value.value());
            last = Some(KeyHash(hash.value().try_into().map_err(db_err)?));
            if entries.len() >= chunk_bytes {
                sink(self.seal(std::mem::take(&mut entries), last.take())?)?;
            }
        }
        if !entries.is_empty() {
            sink(self.seal(entries, last)?)?;
        }
        Ok(())
    }

    /// A chunk of `entries` behind the range proof of `last`, their last key.
    fn seal(&self, entries: Vec<u8>, last: Option<KeyHash>) -> Result<Vec<u8>, SnapshotError> {
        let last = last.ok_or(SnapshotError::Empty)?;
        let proof = Sha256Jmt::new(&self.tree)
            .get_range_proof(last, self.committed.height)
            .map_err(|e| StorageError::Tree(e.to_string()))?;
        let proof = borsh::to_vec(&proof).map_err(db_err)?;
        let mut chunk = Vec::with_capacity(4 + proof.len() + entries.len());
        chunk.extend_from_slice(&(proof.len() as u32).to_be_bytes());
        chunk.extend_from_slice(&proof);
        chunk.extend_from_slice(&entries);
        Ok(chunk)
    }
}

fn encode_entry(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// A chunk read: its entries, in the tree's order, and its range proof.
pub struct Chunk {
    pub entries: Entries,
    hashes: Vec<KeyHash>,
    proof: RangeProof,
}

impl Chunk {
    /// The hash of the chunk's last key, which the next chunk's keys follow.
    pub fn last(&self) -> Option<KeyHash> {
        self.hashes.last().copied()
    }
}

/// Reads a chunk whose keys must follow `after` (the last key hash of the
/// chunk before) in strictly increasing order of their hash.
pub fn decode_chunk(bytes: &[u8], after: Option<KeyHash>) -> Result<Chunk, ChunkError> {
    fn take<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(bytes.get(*at..*at + 4)?.try_into().ok()?) as usize;
        let field = bytes.get(*at + 4..(*at + 4).checked_add(len)?)?;
        *at += 4 + len;
        Some(field)
    }
    let mut at = 0;
    let proof = take(bytes, &mut at).ok_or(ChunkError::Truncated(0))?;
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ChunkError::Proof(format!(
            "{} bytes, more than a proof of this tree can have",
            proof.len()
        )));
    }
    let proof = RangeProof::try_from_slice(proof).map_err(|e| ChunkError::Proof(e.to_string()))?;
    let mut entries: Entries = Vec::new();
    let mut hashes: Vec<KeyHash> = Vec::new();
    while at < bytes.len() {
        let start = at;
        let (Some(key), Some(value)) = (take(bytes, &mut at), take(bytes, &mut at)) else {
            return Err(ChunkError::Truncated(start));
        };
        let hash = key_hash(key);
        if hashes.last().copied().or(after).is_some_and(|p| p >= hash) {
            return Err(ChunkError::OutOfOrder(entries.len()));
        }
        hashes.push(hash);
        entries.push((key.to_vec(), value.to_vec()));
    }
    if entries.is_empty() {
        return Err(ChunkError::Empty);
    }
    Ok(Chunk {
        entries,
        hashes,
        proof,
    })
}

/// Rebuilds the tree of a snapshot chunk by chunk, checking each against
/// the root it must reach (`jmt`'s restore, which keeps only the rightmost
/// path of the tree). The restore runs on a thread of its own, because
/// `jmt` holds its writer as a value that may not cross threads; the nodes
/// each chunk completes come back to be written with the chunk's entries.
pub struct TreeRestore {
    steps: mpsc::Sender<Step>,
    done: mpsc::Receiver<Result<NodeBatch, String>>,
}

enum Step {
    Chunk(Vec<(KeyHash, Vec<u8>)>, RangeProof),
    Finish,
}

/// Where the restore puts the nodes it has completed, until they are taken.
#[derive(Default)]
struct Completed(Mutex<NodeBatch>);

impl TreeWriter for Completed {
    fn write_node_batch(&self, batch: &NodeBatch) -> anyhow::Result<()> {
        let mut completed = self.0.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        completed.extend(batch.nodes().clone(), batch.values().clone());
        Ok(())
    }
}

impl Completed {
    fn take(&self) -> Result<NodeBatch, String> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .map_err(|_| "the restore failed".to_string())
    }
}

impl TreeRestore {
    /// A restore of the tree at `version` whose root must be `root`.
    pub fn start(version: u64, root: [u8; 32]) -> io::Result<Self> {
        let (steps, inbox) = mpsc::channel::<Step>();
        let (outbox, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("snapshot-restore".into())
            .spawn(move || {
                let completed = Arc::new(Completed::default());
                let mut restore = match JellyfishMerkleRestore::<sha2::Sha256>::new_overwrite(
                    completed.clone(),
                    version,
                    RootHash(root),
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = outbox.send(Err(e.to_string()));
                        return;
                    }
                };
                // A chunk that makes `jmt` panic is a bad chunk too.
                let guarded =
                    |f: &mut dyn FnMut() -> anyhow::Result<()>| match std::panic::catch_unwind(
                        std::panic::AssertUnwindSafe(f),
                    ) {
                        Ok(Ok(())) => completed.take(),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("the chunk breaks the restore".into()),
                    };
                for step in inbox {
                    match step {
                        Step::Chunk(entries, proof) => {
                            let mut chunk = Some((entries, proof));
                            let outcome = guarded(&mut || {
                                let (entries, proof) = chunk.take().expect("once");
                                restore.add_chunk(entries, proof)
                            });
                            let failed = outcome.is_err();
                            if outbox.send(outcome).is_err() || failed {
                                return;
                            }
                        }
                        Step::Finish => {
                            let mut last = Some(restore);
                            let outcome = guarded(&mut || last.take().expect("once").finish());
                            let _ = outbox.send(outcome);
                            return;
                        }
                    }
                }
            })?;
        Ok(Self { steps, done })
    }

    /// Adds a decoded chunk; the tree nodes it completed, or why it does
    /// not prove against the root.
    pub fn add(&self, chunk: &Chunk) -> Result<NodeBatch, ChunkError> {
        let entries = chunk
            .hashes
            .iter()
            .copied()
            .zip(chunk.entries.iter().map(|(_, v)| v.clone()))
            .collect();
        self.ask(Step::Chunk(entries, chunk.proof.clone()))
            .map_err(ChunkError::NotTheChains)
    }

    /// Ends the restore: the last nodes, the root among them.
    pub fn finish(self) -> Result<NodeBatch, String> {
        self.ask(Step::Finish)
    }

    fn ask(&self, step: Step) -> Result<NodeBatch, String> {
        self.steps
            .send(step)
            .map_err(|_| "the restore has stopped".to_string())?;
        self.done
            .recv()
            .map_err(|_| "the restore has stopped".to_string())?
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("an empty state has no snapshot")]
    Empty,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot write the snapshot: {0}")]
    Io(#[from] io::Error),
}

/// The name a snapshot's folder has while it is being written.
const INCOMPLETE: &str = "incomplete-";

/// Snapshots on disk: `<dir>/<height>/manifest` and `chunk-<i>`; the last
/// `keep` of them are kept.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    keep: usize,
    chunk_bytes: usize,
}

impl SnapshotStore {
    pub fn new(dir: impl Into<PathBuf>, keep: usize, chunk_bytes: usize) -> Self {
        Self {
            dir: dir.into(),
            keep: keep.max(1),
            chunk_bytes: chunk_bytes.max(1),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the exported state as a snapshot (in a scratch folder renamed
    /// into place when complete, so a crash never leaves half a snapshot to
    /// be offered), then drops the oldest beyond `keep`.
    pub fn save(&self, export: &Export) -> Result<Manifest, SnapshotError> {
        let height = export.committed.height;
        self.drop_incomplete();
        let scratch = self.dir.join(format!("{INCOMPLETE}{height}"));
        fs::create_dir_all(&scratch)?;
        let mut chunk_hashes = Vec::new();
        export.chunks(self.chunk_bytes, |chunk| {
            chunk_hashes.push(sha256(&chunk));
            let path = scratch.join(format!("chunk-{}", chunk_hashes.len() - 1));
            fs::File::create(path)?.write_all(&chunk)
        })?;
        let manifest = Manifest {
            height,
            format: FORMAT,
            chunk_hashes,
        };
        let mut file = fs::File::create(scratch.join("manifest"))?;
        file.write_all(&manifest.to_bytes())?;
        file.sync_all()?;
        let done = self.dir.join(height.to_string());
        let _ = fs::remove_dir_all(&done);
        fs::rename(&scratch, &done)?;
        self.drop_old()?;
        Ok(manifest)
    }

    /// Every complete snapshot, newest first.
    pub fn list(&self) -> Vec<Manifest> {
        let mut all: Vec<Manifest> = self
            .heights()
            .into_iter()
            .filter_map(|h| fs::read(self.dir.join(h.to_string()).join("manifest")).ok())
            .filter_map(|bytes| Manifest::from_bytes(&bytes))
            .collect();
        all.sort_by_key(|m| std::cmp::Reverse(m.height));
        all
    }

    /// One chunk of a snapshot this node has, as it was written.
    pub fn chunk(&self, height: u64, format: u32, index: u32) -> Option<Vec<u8>> {
        if format != FORMAT {
            return None;
        }
        fs::read(
            self.dir
                .join(height.to_string())
                .join(format!("chunk-{index}")),
        )
        .ok()
    }

    fn heights(&self) -> Vec<u64> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return vec![];
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
            .collect()
    }

    /// Scratch folders of snapshots a crash interrupted.
    fn drop_incomplete(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.filter_map(Result::ok) {
            if e.file_name().to_string_lossy().starts_with(INCOMPLETE) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    fn drop_old(&self) -> io::Result<()> {
        let mut heights = self.heights();
        heights.sort_unstable_by(|a, b| b.cmp(a));
        for old in heights.into_iter().skip(self.keep) {
            fs::remove_dir_all(self.dir.join(old.to_string()))?;
        }
        Ok(())
    }
}
