//! A patient who recovered a lost key gets her past data keys back through
//! the break-glass escrow: this gateway opens its escrow wrap of each and
//! wraps it for the key her recovery bound — only under that recovery on
//! chain (proven), only for her, and each re-wrap a disclosure of purpose
//! `key_recovery` in her trail, written to the outbox before anything is
//! stored. The new wraps replace the ones made for the lost key.
//!
//! `GET /v1/patients/{patient}/recovered-keys?purpose=key_recovery&kind=readings|documents&after=N`
//! re-wraps a page (the keys of readings, or documents) and says how many;
//! the client asks again from `next_after` until it is absent. A GET, as
//! every disclosure's request is: asking twice re-wraps nothing new.

use axum::extract::{Query, State};
use axum::Json;
use ehr_client::read_path::api::RecoveredKeys;
use ehr_client::record_encryption::{unwrap_key, wrap_key};
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{AccessBasis, Category, KeyBinding, Purpose, RecoveryPolicy};

use crate::error::{ErrorCode, Failure};
use crate::standing;
use crate::store;

use super::*;

pub(super) async fn recovered_keys(
    State(g): Shared,
    Query(p): Params,
    SignedRead { patient, caller }: SignedRead,
) -> Result<Json<RecoveredKeys>, Failure> {
    if p.get("purpose").map(String::as_str) != Some("key_recovery") {
        return Err(Failure::new(
            ErrorCode::BadPurpose,
            "a recovery of keys is read for purpose=key_recovery, as the audit trail records it",
        ));
    }
    let documents = match p.get("kind").map(String::as_str) {
        Some("readings") => false,
        Some("documents") => true,
        _ => {
            return Err(Failure::new(
                ErrorCode::BadParameter,
                "say which keys: kind=readings or kind=documents",
            ))
        }
    };
    let after = int_param(&p, "after", 0)?;
    let limit = limit_param(&p)?;
    if caller.address != patient {
        return Err(Failure::new(
            ErrorCode::NoRecovery,
            format!(
                "only {patient}, with the key her recovery bound, has her escrowed keys re-wrapped"
            ),
        ));
    }
    // Her current key (authentication proved it) bound to her by a
    // completed recovery — or by a rotation she signed with her old key,
    // for what her client cannot re-wrap itself (her documents).
    let mut view = g.chain.latest().await?;
    let policy = view
        .get::<RecoveryPolicy>(&keys::recovery(&patient))
        .await?
        .unwrap_or_default();
    let recovered = policy
        .last
        .is_some_and(|r| r.new_public_key == caller.public_key.to_bytes());
    let rotated = view
        .get::<KeyBinding>(&keys::key_binding(&caller.public_key.address()))
        .await?
        .is_some_and(|b| b.identity == patient.0);
    if !recovered && !rotated {
        return Err(Failure::new(
            ErrorCode::NoRecovery,
            format!(
                "no recovery or rotation on chain bound this key to {patient}: the gateway re-wraps escrowed keys only for a key bound so (docs/ledger.md)"
            ),
        ));
    }

    let db = g.db.get().await?;
    standing::can_audit(&g, &db).await?;
    let gateway_name = g.key.address().to_string();
    let patient_name = patient.to_string();
    let key = caller.public_key.to_bytes();
    let escrowed = if documents {
        store::escrowed_document_keys(&db, &patient_name, &gateway_name, &key, after, limit).await?
    } else {
        store::escrowed_reading_keys(&db, &patient_name, &gateway_name, &key, after, limit).await?
    };
    let mut wraps = Vec::with_capacity(escrowed.len());
    let mut unopened = 0u64;
    for e in &escrowed {
        match unwrap_key(&g.key, &e.key_id, &e.escrow_key) {
            Ok(data_key) => wraps.push((
                e.key_id.clone(),
                wrap_key(&caller.public_key, &e.key_id, &data_key).to_vec(),
            )),
            Err(_) => {
                unopened += 1;
                tracing::warn!(key = %e.key_id, "an escrow wrap does not open with this gateway's key");
            }
        }
    }
    // In the outbox before anything is stored: a re-wrap discloses the
    // records its key opens.
    let opened: Vec<_> = escrowed
        .iter()
        .filter(|e| wraps.iter().any(|(id, _)| *id == e.key_id))
        .collect();
    let records = opened.iter().map(|e| e.record_ids.len() as u64).sum();
    let mut served: Vec<(Category, &str)> = Vec::new();
    for e in &opened {
        served.extend(e.record_ids.iter().map(|id| (e.category, id.as_str())));
    }
    disclose(
        &db,
        &g.key.address(),
        &caller,
        &patient,
        Purpose::KeyRecovery,
        served.into_iter(),
        AccessBasis::Patient,
    )
    .await?;
    let mut db = db;
    let rewrapped = if documents {
        store::replace_document_wraps(&mut db, &patient_name, &key, &wraps).await?
    } else {
        store::insert_wraps(&mut db, &patient_name, &key, &wraps).await?
    };
    tracing::info!(patient = %patient, rewrapped, unopened, "escrowed keys re-wrapped under a recovery");
    Ok(Json(RecoveredKeys {
        rewrapped,
        records,
        unopened,
        next_after: next_after(escrowed.len(), limit, escrowed.last().map(|e| e.seq)),
    }))
}
