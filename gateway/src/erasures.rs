//! The gateway carries out the chain's erasures (docs/ledger.md) for the
//! documents it keeps: each erasure by its number, in order, read with a
//! state proof (`ehr_client::erasures`) — a node cannot make it shred a
//! patient's documents by a made-up event, nor keep it from shredding by
//! hiding one, and a gateway started after an erasure carries it out too.
//! The last one done is kept in `gateway.followed_erasure`. A covered
//! document's ciphertext is set to nothing and every wrap of its key
//! deleted; the row stays with its hash and the erasure's number, which
//! readers are shown and prove. Covered means what readers check
//! (`erasure::covers`): named, of an erased category or everything, and
//! anchored at or before the erasure — each document's anchor read on
//! proof. One stored before the erasure and anchored after it is not erased
//! by it.

use std::time::Duration;

use ehr_client::erasures::next_after;
use ehr_ledger::ledger::actions::erasure::covers;
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{Erasure, StoredRecordAnchor};

use crate::{store, Gateway};

/// Erasures carried out per round at most: many behind catch up over rounds.
const ERASURES_PER_ROUND: usize = 100;

pub async fn follow(g: &Gateway) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Err(e) = follow_once(g).await {
            tracing::warn!(error = %e, "could not follow the chain's erasures; trying again");
        }
    }
}

async fn follow_once(g: &Gateway) -> Result<(), String> {
    let db = g.db.get().await.map_err(|e| e.to_string())?;
    let me = g.key.address().to_string();
    let mut done = store::followed_erasure(&db, &me)
        .await
        .map_err(|e| e.to_string())?;
    drop(db);
    for _ in 0..ERASURES_PER_ROUND {
        let Some(erasure) = next_after(&g.chain, done)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        carry_out(g, &erasure).await?;
        done = erasure.id;
        let db = g.db.get().await.map_err(|e| e.to_string())?;
        store::set_followed_erasure(&db, &me, done)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Shreds the documents `erasure` covers, each checked by its anchor.
async fn carry_out(g: &Gateway, erasure: &Erasure) -> Result<(), String> {
    let patient = ehr_ledger::crypto::Address::from_slice(&erasure.patient)
        .ok_or_else(|| format!("erasure {} names no patient", erasure.id))?
        .to_string();
    let mut db = g.db.get().await.map_err(|e| e.to_string())?;
    let candidates = store::erasure_candidates(&db, &patient, erasure)
        .await
        .map_err(|e| e.to_string())?;
    let mut view = g.chain.latest().await.map_err(|e| e.to_string())?;
    let mut covered = Vec::with_capacity(candidates.len());
    for (id, category) in candidates {
        let anchor: Option<StoredRecordAnchor> = view
            .get(&keys::record(&id))
            .await
            .map_err(|e| e.to_string())?;
        if anchor.is_some_and(|a| covers(erasure, &id, category, a.height as u64)) {
            covered.push(id);
        }
    }
    let erased = store::erase_documents(&mut db, &patient, erasure.id, &covered)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        erasure = erasure.id,
        documents = erased,
        "documents erased: their ciphertexts and keys shredded"
    );
    Ok(())
}
