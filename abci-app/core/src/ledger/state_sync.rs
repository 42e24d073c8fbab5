//! State sync: serving snapshots of the committed state to joining nodes,
//! and restoring one when this node is the one joining.
//!
//! A validator with a snapshot policy writes a snapshot every `every`
//! heights, on a thread of its own from a read transaction of the store, so
//! no block waits for it. A joining node takes an offered snapshot only into
//! an empty store, checks each chunk against the snapshot's metadata and —
//! with the chunk's range proof — against the app hash that CometBFT's
//! light client verified against the validators' signatures, before it
//! keeps anything of it; it takes no chunk larger than CometBFT carries and
//! no more bytes in all than its operator allows, and commits the restored
//! state only once its tree's root is that app hash.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::storage::snapshot::{
    decode_chunk, Manifest, OfferRefusal, SnapshotStore, TreeRestore, MAX_CHUNK_BYTES,
};

/// Where and how often a node writes snapshots.
#[derive(Clone, Debug)]
pub struct SnapshotPolicy {
    pub dir: PathBuf,
    /// A snapshot every this many heights.
    pub every: u64,
    /// How many snapshots are kept on disk.
    pub keep: usize,
    /// Chunk size (`storage::snapshot::CHUNK_BYTES` unless testing).
    pub chunk_bytes: usize,
}

pub(super) struct Snapshots {
    store: SnapshotStore,
    every: u64,
    /// A snapshot is being written: the next due one is skipped rather than
    /// queued behind it.
    busy: Arc<AtomicBool>,
}

impl Snapshots {
    pub(super) fn new(policy: SnapshotPolicy) -> Self {
        Self {
            store: SnapshotStore::new(policy.dir, policy.keep, policy.chunk_bytes),
            every: policy.every.max(1),
            busy: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// A snapshot being restored: which chunk comes next, the last key hash
/// seen, the bytes taken so far and the tree being rebuilt.
pub(super) struct Restore {
    manifest: Manifest,
    app_hash: [u8; 32],
    next: u32,
    last_key: Option<jmt::KeyHash>,
    received: u64,
    tree: TreeRestore,
}

/// The answer to an offered snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum OfferVerdict {
    Accept,
    /// Not a format this ledger reads: CometBFT offers no more of that format.
    RejectFormat(String),
    /// Not this one: CometBFT tries another.
    Reject(String),
}

/// The answer to an applied chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkVerdict {
    /// Taken; more chunks to come.
    Accepted,
    /// The last chunk: the state is restored at this height.
    Restored(u64),
    /// The chunk is not the one the snapshot announced: fetch it again from
    /// another peer, and stop asking the one that sent it.
    Refetch(String),
    /// The snapshot itself is wrong (entries out of order, or a root that is
    /// not the chain's app hash): the store is emptied, try another snapshot.
    RejectSnapshot(String),
    /// A chunk for no snapshot, or out of turn.
    Retry(String),
    /// The snapshot is more than this node takes (`--state-sync-max-bytes`):
    /// rejected, its sender not blamed.
    TooLarge(String),
}

impl Ledger {
    /// After a commit at `height`: writes a snapshot in the background if
    /// one is due and none is being written.
    pub(super) fn snapshot_if_due(&self, height: u64) {
        let Some(snapshots) = &self.snapshots else {
            return;
        };
        if !height.is_multiple_of(snapshots.every) {
            return;
        }
        // A read transaction of the state just committed: cheap, and what
        // the thread writes out while the next blocks commit.
        let export = match self.storage.export() {
            Ok(Some(export)) => export,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, height, "no snapshot: the state cannot be read");
                return;
            }
        };
        if snapshots.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = snapshots.store.clone();
        let busy = snapshots.busy.clone();
        let spawned = std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || {
                match store.save(&export) {
                    Ok(m) => tracing::info!(
                        height = m.height,
                        chunks = m.chunks(),
                        hash = %hex::encode(m.hash()),
                        "snapshot written"
                    ),
                    Err(error) => tracing::warn!(%error, height, "snapshot not written"),
                }
                busy.store(false, Ordering::Release);
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, height, "no snapshot: cannot start its thread");
            snapshots.busy.store(false, Ordering::Release);
        }
    }

    /// The snapshots this node can serve, newest first.
    pub fn list_snapshots(&self) -> Vec<Manifest> {
        self.snapshots
            .as_ref()
            .map(|s| s.store.list())
            .unwrap_or_default()
    }

    pub fn load_snapshot_chunk(&self, height: u64, format: u32, index: u32) -> Option<Vec<u8>> {
        self.snapshots.as_ref()?.store.chunk(height, format, index)
    }

    /// A peer offers a snapshot whose app hash CometBFT has verified.
    pub fn offer_snapshot(
        &self,
        offer: Result<Manifest, OfferRefusal>,
        app_hash: &[u8],
    ) -> Result<OfferVerdict, LedgerError> {
        let manifest = match offer {
            Ok(m) => m,
            Err(r @ OfferRefusal::Format(_)) => {
                return Ok(OfferVerdict::RejectFormat(r.to_string()))
            }
            Err(r) => return Ok(OfferVerdict::Reject(r.to_string())),
        };
        if let Some(c) = self.storage.committed()? {
            return Ok(OfferVerdict::Reject(format!(
                "this node already has a state (height {}); state sync starts from an empty one",
                c.height
            )));
        }
        let Ok(app_hash) = <[u8; 32]>::try_from(app_hash) else {
            return Ok(OfferVerdict::Reject(format!(
                "the app hash offered with it has {} bytes, not 32",
                app_hash.len()
            )));
        };
        // Whatever an earlier offer left half restored goes.
        *lock(&self.restore) = None;
        self.storage.abandon_restore()?;
        let tree = match TreeRestore::start(manifest.height, app_hash) {
            Ok(tree) => tree,
            Err(error) => {
                return Ok(OfferVerdict::Reject(format!(
                    "this node cannot start a restore: {error}"
                )))
            }
        };
        tracing::info!(
            height = manifest.height,
            chunks = manifest.chunks(),
            "restoring a snapshot"
        );
        *lock(&self.restore) = Some(Restore {
            manifest,
            app_hash,
            next: 0,
            last_key: None,
            received: 0,
            tree,
        });
        Ok(OfferVerdict::Accept)
    }

    /// One chunk of the snapshot being restored, in order.
    pub fn apply_snapshot_chunk(
        &self,
        index: u32,
        bytes: &[u8],
    ) -> Result<ChunkVerdict, LedgerError> {
        let mut slot = lock(&self.restore);
        let Some(restore) = slot.as_mut() else {
            return Ok(ChunkVerdict::Retry("no snapshot is being restored".into()));
        };
        if index != restore.next {
            return Ok(ChunkVerdict::Retry(format!(
                "chunk {index} arrived, chunk {} is next",
                restore.next
            )));
        }
        if crate::crypto::sha256(bytes) != restore.manifest.chunk_hashes[index as usize] {
            return Ok(ChunkVerdict::Refetch(format!(
                "chunk {index} is not the one the snapshot announced (its hash differs)"
            )));
        }
        if bytes.len() > MAX_CHUNK_BYTES {
            let why = format!(
                "chunk {index} has {} bytes, more than the {MAX_CHUNK_BYTES} a chunk may have",
                bytes.len()
            );
            return self.reject_restore(&mut slot, why);
        }
        restore.received += bytes.len() as u64;
        if restore.received > self.max_restore_bytes {
            let why = format!(
                "the snapshot passes {} bytes at chunk {index} of {}, more than the {} this node \
                 takes (--state-sync-max-bytes)",
                restore.received,
                restore.manifest.chunks(),
                self.max_restore_bytes
            );
            *slot = None;
            self.storage.abandon_restore()?;
            return Ok(ChunkVerdict::TooLarge(why));
        }
        // Checked against the app hash before anything of it is kept.
        let checked = decode_chunk(bytes, restore.last_key)
            .and_then(|chunk| Ok((restore.tree.add(&chunk)?, chunk)));
        let (nodes, chunk) = match checked {
            Ok(checked) => checked,
            Err(e) => return self.reject_restore(&mut slot, format!("chunk {index}: {e}")),
        };
        self.storage.restore_chunk(&chunk.entries, &nodes)?;
        restore.last_key = chunk.last();
        restore.next += 1;
        if restore.next < restore.manifest.chunks() {
            return Ok(ChunkVerdict::Accepted);
        }
        let Some(Restore {
            manifest,
            app_hash,
            tree,
            ..
        }) = slot.take()
        else {
            return Ok(ChunkVerdict::Retry("no snapshot is being restored".into()));
        };
        let nodes = match tree.finish() {
            Ok(nodes) => nodes,
            Err(why) => return self.reject_restore(&mut None, why),
        };
        match self
            .storage
            .finish_restore(manifest.height, app_hash, &nodes)
        {
            Ok(committed) => {
                self.reload_chain()?;
                tracing::info!(height = committed.height, app_hash = %hex::encode(committed.root), "state restored from a snapshot");
                Ok(ChunkVerdict::Restored(committed.height))
            }
            Err(e @ StorageError::RootMismatch { .. }) => {
                Ok(ChunkVerdict::RejectSnapshot(e.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Ends a restore that cannot succeed, emptying what it wrote.
    fn reject_restore(
        &self,
        slot: &mut Option<Restore>,
        why: String,
    ) -> Result<ChunkVerdict, LedgerError> {
        *slot = None;
        self.storage.abandon_restore()?;
        Ok(ChunkVerdict::RejectSnapshot(why))
    }
}
