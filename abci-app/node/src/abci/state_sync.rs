//! State sync (the snapshot connection): ListSnapshots and LoadSnapshotChunk
//! serve this node's snapshots to joining nodes; OfferSnapshot and
//! ApplySnapshotChunk restore one when this node is the one joining. The
//! ledger decides; this file only translates.

use super::proto::{
    response_apply_snapshot_chunk::Result as ChunkResult,
    response_offer_snapshot::Result as OfferResult, RequestApplySnapshotChunk,
    RequestLoadSnapshotChunk, RequestOfferSnapshot, ResponseApplySnapshotChunk,
    ResponseListSnapshots, ResponseLoadSnapshotChunk, ResponseOfferSnapshot, Snapshot,
};
use super::AbciError;
use ehr_ledger::ledger::{ChunkVerdict, Ledger, OfferVerdict};
use ehr_ledger::storage::snapshot::{Manifest, OfferRefusal};

pub fn list_snapshots(ledger: &Ledger) -> ResponseListSnapshots {
    ResponseListSnapshots {
        snapshots: ledger
            .list_snapshots()
            .into_iter()
            .map(|m| Snapshot {
                height: m.height,
                format: m.format,
                chunks: m.chunks(),
                hash: m.hash().to_vec().into(),
                metadata: m.metadata().into(),
            })
            .collect(),
    }
}

pub fn load_snapshot_chunk(
    ledger: &Ledger,
    request: RequestLoadSnapshotChunk,
) -> ResponseLoadSnapshotChunk {
    ResponseLoadSnapshotChunk {
        chunk: ledger
            .load_snapshot_chunk(request.height, request.format, request.chunk)
            .unwrap_or_default()
            .into(),
    }
}

pub fn offer_snapshot(
    ledger: &Ledger,
    request: RequestOfferSnapshot,
) -> Result<ResponseOfferSnapshot, AbciError> {
    let offer = match &request.snapshot {
        None => Err(OfferRefusal::Invalid(
            "the offer carries no snapshot".into(),
        )),
        Some(s) => Manifest::from_offer(s.height, s.format, s.chunks, &s.hash, &s.metadata),
    };
    let result = match ledger.offer_snapshot(offer, &request.app_hash)? {
        OfferVerdict::Accept => OfferResult::Accept,
        OfferVerdict::RejectFormat(why) => {
            tracing::info!(%why, "snapshot offer refused");
            OfferResult::RejectFormat
        }
        OfferVerdict::Reject(why) => {
            tracing::info!(%why, "snapshot offer refused");
            OfferResult::Reject
        }
    };
    Ok(ResponseOfferSnapshot {
        result: result as i32,
    })
}

pub fn apply_snapshot_chunk(
    ledger: &Ledger,
    request: RequestApplySnapshotChunk,
) -> Result<ResponseApplySnapshotChunk, AbciError> {
    let index = request.index;
    let mut response = ResponseApplySnapshotChunk::default();
    let result = match ledger.apply_snapshot_chunk(index, &request.chunk)? {
        ChunkVerdict::Accepted | ChunkVerdict::Restored(_) => ChunkResult::Accept,
        ChunkVerdict::Refetch(why) => {
            tracing::warn!(%why, sender = %request.sender, "snapshot chunk refused; asking another peer");
            response.refetch_chunks = vec![index];
            response.reject_senders = vec![request.sender];
            ChunkResult::Retry
        }
        ChunkVerdict::RejectSnapshot(why) => {
            // The chunk was the one announced, so the snapshot itself is not
            // the chain's state (or too big): its sender offers no more.
            tracing::warn!(%why, sender = %request.sender, "snapshot rejected");
            response.reject_senders = vec![request.sender];
            ChunkResult::RejectSnapshot
        }
        ChunkVerdict::TooLarge(why) => {
            tracing::warn!(%why, "snapshot rejected");
            ChunkResult::RejectSnapshot
        }
        ChunkVerdict::Retry(why) => {
            tracing::warn!(%why, "snapshot chunk not applied");
            ChunkResult::RetrySnapshot
        }
    };
    response.result = result as i32;
    Ok(response)
}
