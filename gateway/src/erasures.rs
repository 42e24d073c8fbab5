//! The gateway follows the chain's erasures (docs/ledger.md) for the
//! documents it keeps: from the block it last followed (kept in
//! `gateway.followed_height`), each `records_erased` event is proven — the
//! erasure's entry read against the app hash after its block, naming this
//! patient — before anything is deleted, so a node cannot make it shred a
//! patient's documents by a made-up event. A covered document's ciphertext
//! is set to nothing and every wrap of its key deleted; the row stays with
//! its hash and the erasure's number, which readers are shown and prove.
//! Covered means what readers check (`erasure::covers`): named, of an
//! erased category or everything, and anchored at or before the erasure —
//! each document's anchor read on proof. One stored before the erasure and
//! anchored after it is not erased by it.

use std::time::Duration;

use ehr_ledger::crypto::Address;
use ehr_ledger::ledger::actions::erasure::covers;
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{Erasure, StoredRecordAnchor};

use crate::{store, Gateway};

/// Blocks read per round at most: a long way behind catches up over rounds.
const BLOCKS_PER_ROUND: u64 = 200;

pub async fn follow(g: &Gateway) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Err(e) = follow_once(g).await {
            tracing::warn!(error = %e, "could not follow the chain's erasures; trying again");
        }
    }
}

async fn follow_once(g: &Gateway) -> Result<(), String> {
    let latest = g.chain.latest().await.map_err(|e| e.to_string())?.height;
    let mut db = g.db.get().await.map_err(|e| e.to_string())?;
    let me = g.key.address().to_string();
    let Some(followed) = store::followed_height(&db, &me)
        .await
        .map_err(|e| e.to_string())?
    else {
        // The first time, from now: documents exist only from when it ran.
        return store::set_followed_height(&db, &me, latest)
            .await
            .map_err(|e| e.to_string());
    };
    let from = followed + 1;
    for height in from..=latest.min(from + BLOCKS_PER_ROUND - 1) {
        let events = g
            .rpc
            .committed_events(height)
            .await
            .map_err(|e| e.to_string())?;
        for e in events.iter().filter(|e| e.kind == "records_erased") {
            let (Some(patient), Some(id)) = (
                e.attribute("patient")
                    .and_then(|p| p.parse::<Address>().ok()),
                e.attribute("erasure_id")
                    .and_then(|i| i.parse::<u64>().ok()),
            ) else {
                continue;
            };
            let mut view = match g.chain.after(height).await {
                Ok(view) => view,
                Err(_) => g.chain.latest().await.map_err(|e| e.to_string())?,
            };
            let proven: Option<Erasure> = view
                .get(&keys::erasure(id))
                .await
                .map_err(|e| e.to_string())?;
            let Some(erasure) = proven.filter(|e| e.patient == patient.0) else {
                tracing::warn!(
                    height,
                    id,
                    "an erasure event the chain's state does not prove: nothing erased"
                );
                continue;
            };
            // Covered as readers check it: by each document's anchor.
            let candidates = store::erasure_candidates(&db, &patient.to_string(), &erasure)
                .await
                .map_err(|e| e.to_string())?;
            let mut covered = Vec::with_capacity(candidates.len());
            for (id, category) in candidates {
                let anchor: Option<StoredRecordAnchor> = view
                    .get(&keys::record(&id))
                    .await
                    .map_err(|e| e.to_string())?;
                if anchor.is_some_and(|a| covers(&erasure, &id, category, a.height as u64)) {
                    covered.push(id);
                }
            }
            let erased = store::erase_documents(&mut db, &patient.to_string(), id, &covered)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(
                height,
                erasure = id,
                documents = erased,
                "documents erased: their ciphertexts and keys shredded"
            );
        }
        store::set_followed_height(&db, &me, height)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
