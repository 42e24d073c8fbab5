//! State-sync snapshots: the committed state at one height, cut into chunks
//! that a joining node fetches from its peers and checks one by one.
//!
//! Format 1 is the flat state — every (key, value) in key order — written as
//! `u32 BE key length ‖ key ‖ u32 BE value length ‖ value`, cut at entry
//! boundaries into chunks of about `CHUNK_BYTES`. A snapshot's metadata is
//! the SHA-256 of each chunk in order and its hash the SHA-256 of the
//! metadata. The same state gives the same chunks on every validator, so a
//! joining node may take each chunk from any of them. Each chunk is checked
//! against its hash as it arrives, the order of keys across chunks as they
//! are applied, and the whole against the app hash the validators signed
//! (the tree is rebuilt from the entries) when the last one is applied.
//! Only the state is carried: the tree's history stays with the archive nodes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::{db_err, Committed, Storage, StorageError, LATEST};
use crate::crypto::sha256;

/// The only format this ledger writes and reads.
pub const FORMAT: u32 = 1;
/// A chunk closes at the first entry boundary past this size (unless a
/// node is told otherwise; tests use small chunks to have many).
pub const CHUNK_BYTES: usize = 4 << 20;
/// The largest snapshot accepted, in chunks (CometBFT's own default limit).
pub const MAX_CHUNKS: u32 = 100_000;

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

/// Why a chunk's entries cannot be taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("the chunk ends inside an entry at byte {0}")]
    Truncated(usize),
    #[error("the chunk's keys are not in strictly increasing order at entry {0}")]
    OutOfOrder(usize),
}

/// The state as of one commit, held by a read transaction of the store:
/// commits go on meanwhile and are not seen.
pub struct Export {
    pub committed: Committed,
    latest: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Storage {
    /// The state of the last commit, to be written as a snapshot.
    pub fn export(&self) -> Result<Option<Export>, StorageError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let meta = txn.open_table(super::META).map_err(db_err)?;
        let Some(committed) = super::read_committed(&meta)? else {
            return Ok(None);
        };
        let latest = txn.open_table(LATEST).map_err(db_err)?;
        Ok(Some(Export { committed, latest }))
    }
}

impl Export {
    /// Cuts the state into chunks of about `chunk_bytes`, handing each to
    /// `sink` in order.
    pub fn chunks(
        &self,
        chunk_bytes: usize,
        mut sink: impl FnMut(Vec<u8>) -> io::Result<()>,
    ) -> Result<(), SnapshotError> {
        let mut chunk = Vec::new();
        for entry in self.latest.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            encode_entry(&mut chunk, k.value(), v.value());
            if chunk.len() >= chunk_bytes {
                sink(std::mem::take(&mut chunk))?;
            }
        }
        // Even an empty state has one chunk, so that a snapshot is never empty.
        if !chunk.is_empty() || self.latest.is_empty().map_err(db_err)? {
            sink(chunk)?;
        }
        Ok(())
    }
}

fn encode_entry(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// The entries of one chunk, checked to follow `after` (the last key of
/// the chunk before) in strictly increasing key order.
pub fn decode_chunk(bytes: &[u8], after: Option<&[u8]>) -> Result<super::Entries, ChunkError> {
    fn take<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(bytes.get(*at..*at + 4)?.try_into().ok()?) as usize;
        let field = bytes.get(*at + 4..(*at + 4).checked_add(len)?)?;
        *at += 4 + len;
        Some(field)
    }
    let mut entries: super::Entries = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let (Some(key), Some(value)) = (take(bytes, &mut at), take(bytes, &mut at)) else {
            return Err(ChunkError::Truncated(start));
        };
        let previous = entries.last().map(|(k, _)| k.as_slice()).or(after);
        if previous.is_some_and(|p| p >= key) {
            return Err(ChunkError::OutOfOrder(entries.len()));
        }
        entries.push((key.to_vec(), value.to_vec()));
    }
    Ok(entries)
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
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
