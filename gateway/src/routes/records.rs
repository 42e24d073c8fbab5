//! GET records: the caller's key for each, its Merkle proof, and the
//! disclosure in the outbox before the answer.

use axum::extract::{Query, State};
use axum::Json;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ehr_client::read_path::api::{AnchorProof, RecordItem, RecordsPage};
use ehr_client::read_path::request_auth::Caller;
use ehr_client::record_encryption::{unwrap_key, wrap_key};
use ehr_client::service::now_ms;
use ehr_ledger::crypto::Address;
use ehr_ledger::ledger::access::category_name;
use ehr_ledger::proto::{AccessBasis, Category, Purpose};

use crate::access;
use crate::disclosures::{self, NewDisclosure};
use crate::error::Failure;
use crate::standing;
use crate::store::{self, RecordFilter};
use crate::Gateway;

use super::*;

/// The data key for the caller: their own wrap; under an open emergency
/// access, the escrow wrap opened by this gateway and wrapped for the caller
/// under the same key id.
pub(super) fn key_for_caller(
    g: &Gateway,
    key_id: &str,
    own: Option<&[u8]>,
    escrow: Option<&[u8]>,
    caller: &Caller,
    basis: AccessBasis,
) -> (Option<String>, Option<String>) {
    if let Some(w) = own {
        return (Some(B64.encode(w)), Some("reader".into()));
    }
    if basis != AccessBasis::Emergency {
        return (None, None);
    }
    let Some(escrow) = escrow else {
        // The doctor's emergency is open and this gateway holds no wrap of
        // the key: whoever wrapped it left this gateway out of the escrow.
        tracing::warn!(key = %key_id, "an emergency read finds no escrow wrap for this gateway: the doctor gets no key for it");
        return (None, None);
    };
    match unwrap_key(&g.key, key_id, escrow) {
        Ok(data_key) => (
            Some(B64.encode(wrap_key(&caller.public_key, key_id, &data_key))),
            Some("emergency".into()),
        ),
        Err(_) => {
            tracing::warn!(key = %key_id, "an escrow wrap does not open with this gateway's key");
            (None, None)
        }
    }
}

pub(super) async fn records(
    State(g): Shared,
    Query(p): Params,
    SignedRead { patient, caller }: SignedRead,
) -> Result<Json<RecordsPage>, Failure> {
    let category = category_param(&p)?;
    let (from, to) = (time_param(&p, "from")?, time_param(&p, "to")?);
    let after = int_param(&p, "after", 0)?;
    let limit = limit_param(&p)?;
    let loinc = loinc_param(&p)?;
    let allowed = access::may_read(&g.chain, &patient, &caller.address, category).await?;
    let purpose = purpose_param(&p, allowed.basis)?;

    let db = g.db.get().await?;
    standing::can_audit(&g, &db).await?;
    let caller_name = caller.address.to_string();
    let gateway_name = g.key.address().to_string();
    let escrow = (allowed.basis == AccessBasis::Emergency).then_some(gateway_name.as_str());
    let filter = RecordFilter {
        patient: &patient.to_string(),
        category: (category != Category::All).then_some(category),
        from,
        to,
        loinc,
        after,
        limit,
    };
    // Only a wrap for the caller's current key: one made for a key it
    // replaced opens nothing (the patient's client re-wraps it).
    let caller_key = caller.public_key.to_bytes();
    let stored = store::records(&db, &filter, &caller_name, &caller_key, escrow).await?;

    let proven = g.proofs.paths(&db, &stored).await?;
    let mut items = Vec::with_capacity(stored.len());
    for (r, proven) in stored.iter().zip(proven) {
        // The leaf its batch's tree holds, or (batches from before trees)
        // its row's; none found, the reader finds the ciphertext altered.
        let leaf = proven
            .leaf
            .map(hex::encode)
            .or_else(|| r.ciphertext_sha256.as_ref().map(hex::encode))
            .unwrap_or_default();
        let anchor = match &r.anchored {
            Some((service, height, root, count)) => {
                let path = proven.path.map(|p| p.iter().map(hex::encode).collect());
                path.map(|path| AnchorProof {
                    service: service.clone(),
                    batch_id: r.batch_id as u64,
                    leaf_index: r.leaf_index as u64,
                    leaf_count: *count as u64,
                    merkle_root: hex::encode(root),
                    path,
                    height: *height as u64,
                })
            }
            None => None,
        };
        let (wrapped_key, key_source) = key_for_caller(
            &g,
            &r.key_id,
            r.wrapped_key.as_deref(),
            r.escrow_key.as_deref(),
            &caller,
            allowed.basis,
        );
        items.push(RecordItem {
            record_id: r.record_id.clone(),
            seq: r.seq,
            category: category_name(r.category).to_string(),
            device_id: r.device_id.clone(),
            loinc: r.loinc.clone(),
            measured_at_ms: r.measured_at_ms,
            ciphertext: r
                .ciphertext
                .as_ref()
                .map(|c| B64.encode(c))
                .unwrap_or_default(),
            ciphertext_sha256: leaf,
            key_id: r.key_id.clone(),
            wrapped_key: wrapped_key.filter(|_| r.erasure_id.is_none()),
            key_source: key_source.filter(|_| r.erasure_id.is_none()),
            anchor,
            erasure_id: r.erasure_id.map(|e| e as u64),
        });
    }

    // The outbox row is written before anything is served; an erased
    // record's tombstone discloses nothing.
    let served = stored
        .iter()
        .filter(|r| r.erasure_id.is_none())
        .map(|r| (r.category, r.record_id.as_str()));
    let disclosure_ids = disclose(
        &db,
        &g.key.address(),
        &caller,
        &patient,
        purpose,
        served,
        allowed.basis,
    )
    .await?;
    Ok(Json(RecordsPage {
        patient: patient.to_string(),
        category: category_name(category).to_string(),
        basis: basis_name(allowed.basis),
        height: allowed.height,
        next_after: next_after(items.len(), limit, stored.last().map(|r| r.seq)),
        records: items,
        disclosure_ids,
    }))
}

/// Writes the disclosure of `served` (category, record id) to the outbox, one
/// row per category (or per part of a large one), before anything is
/// answered; the rows' ids.
pub(super) async fn disclose<'a>(
    db: &deadpool_postgres::Object,
    gateway: &Address,
    caller: &Caller,
    patient: &Address,
    purpose: Purpose,
    served: impl Iterator<Item = (Category, &'a str)>,
    basis: AccessBasis,
) -> Result<Vec<i64>, Failure> {
    let mut by_category: Vec<(Category, Vec<String>)> = Vec::new();
    let mut count = 0;
    for (category, id) in served {
        count += 1;
        match by_category.iter_mut().find(|(c, _)| *c == category) {
            Some((_, ids)) => ids.push(id.to_string()),
            None => by_category.push((category, vec![id.to_string()])),
        }
    }
    let now = now_ms() / 1000;
    // A large answer (a key re-wrapped opens up to an hour of readings) is
    // logged as several disclosures, each one the ledger takes.
    let new: Vec<NewDisclosure> = by_category
        .iter()
        .flat_map(|(category, ids)| {
            disclosures::chunks(ids)
                .into_iter()
                .map(|record_ids| NewDisclosure {
                    accessor: caller.address,
                    patient: *patient,
                    category: *category,
                    purpose,
                    record_ids: record_ids.to_vec(),
                    disclosed_at: now,
                    request: caller.request.clone(),
                })
        })
        .collect();
    // What the ledger would refuse to log is not served: the gateway and the
    // ledger read the request by one rule.
    for d in &new {
        disclosures::loggable(d, gateway)?;
    }
    let ids = disclosures::record(db, &new).await?;
    tracing::info!(
        accessor = %caller.address,
        patient = %patient,
        records = count,
        basis = %basis_name(basis),
        "disclosed"
    );
    Ok(ids)
}
