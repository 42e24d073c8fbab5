//! The patient's (or guardian's) own wrapped keys, and the wraps they upload
//! for a new reader (re-wrapping past records).

use axum::extract::{Query, State};
use axum::Json;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ehr_client::read_path::api::{KeysPage, OwnKey, WrapResult, WrapUpload, MAX_PAGE};
use ehr_client::record_encryption::WRAPPED_KEY_LEN;
use ehr_ledger::crypto::Address;
use ehr_ledger::ledger::access::category_name;
use ehr_ledger::proto::{AccessBasis, Category};

use crate::access;
use crate::error::{ErrorCode, Failure};
use crate::store::{self};

use super::*;

pub(super) async fn own_keys(
    State(g): Shared,
    Query(p): Params,
    SignedRead { patient, caller }: SignedRead,
) -> Result<Json<KeysPage>, Failure> {
    let category = category_param(&p)?;
    let missing_for = p
        .get("missing_for")
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::BadReader,
                "say whose wraps are missing: missing_for=<address>",
            )
        })?
        .parse::<Address>()
        .map_err(|_| Failure::new(ErrorCode::BadReader, "missing_for is not an address"))?;
    let after = int_param(&p, "after", 0)?;
    let limit = limit_param(&p)?;
    access::patient_or_guardian(&g.chain, &patient, &caller.address).await?;
    // Missing: no wrap for the reader's current key (a rotated key's old
    // wraps open nothing for it).
    let current = access::current_key(&g.chain, &patient, &missing_for).await?;
    let db = g.db.get().await?;
    let rows = store::own_keys_missing_for(
        &db,
        &patient.to_string(),
        (category != Category::All).then_some(category),
        &caller.address.to_string(),
        &store::Reader {
            address: &missing_for.to_string(),
            key: current.map(|k| k.to_bytes().to_vec()).as_deref(),
        },
        after,
        limit,
    )
    .await?;
    Ok(Json(KeysPage {
        patient: patient.to_string(),
        next_after: next_after(rows.len(), limit, rows.last().map(|r| r.last_seq)),
        keys: rows
            .into_iter()
            .map(|r| OwnKey {
                key_id: r.key_id,
                seq: r.last_seq,
                records: r.records,
                category: category_name(r.category).to_string(),
                wrapped_key: B64.encode(r.wrapped_key),
            })
            .collect(),
    }))
}

pub(super) async fn upload_wraps(
    State(g): Shared,
    SignedWrite {
        patient,
        caller,
        body,
    }: SignedWrite,
) -> Result<Json<WrapResult>, Failure> {
    let upload: WrapUpload = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            ErrorCode::BadBody,
            format!("the body is not a wrap upload: {e}"),
        )
    })?;
    let reader = upload
        .reader
        .parse::<Address>()
        .map_err(|_| Failure::new(ErrorCode::BadReader, "reader is not an address"))?;
    if upload.wraps.is_empty() || upload.wraps.len() > MAX_PAGE as usize {
        return Err(Failure::new(
            ErrorCode::BadBody,
            format!("send 1..={MAX_PAGE} wraps at a time"),
        ));
    }
    let mut wraps = Vec::with_capacity(upload.wraps.len());
    for w in &upload.wraps {
        let bytes = B64
            .decode(&w.wrapped_key)
            .ok()
            .filter(|b| b.len() == WRAPPED_KEY_LEN)
            .ok_or_else(|| {
                Failure::new(
                    ErrorCode::BadWrap,
                    format!(
                        "the wrap of {} is not {WRAPPED_KEY_LEN} bytes of base64",
                        w.key_id
                    ),
                )
            })?;
        wraps.push((w.key_id.clone(), bytes));
    }
    access::patient_or_guardian(&g.chain, &patient, &caller.address).await?;
    // Her own wraps replace those of a key she replaced: only she uploads
    // them (the gateway cannot tell a wrap that opens from one that does not).
    if reader == patient && caller.address != patient {
        return Err(Failure::new(
            ErrorCode::ReaderNotAllowed,
            format!("only {patient} uploads wraps for herself"),
        ));
    }

    let mut db = g.db.get().await?;
    let ids: Vec<String> = wraps.iter().map(|w| w.0.clone()).collect();
    let found = store::categories_of(&db, &patient.to_string(), &ids).await?;
    if let Some(missing) = ids.iter().find(|id| !found.iter().any(|(f, _)| f == *id)) {
        return Err(Failure::new(
            ErrorCode::UnknownRecord,
            format!("{missing} is not a record of {patient}"),
        ));
    }
    // The reader must be allowed to read every category now, as a grantee or guardian.
    let mut basis = AccessBasis::Unspecified;
    let mut categories: Vec<Category> = found.iter().map(|(_, c)| *c).collect();
    categories.sort_by_key(|c| *c as i32);
    categories.dedup();
    for c in categories {
        let allowed = access::may_read(&g.chain, &patient, &reader, c)
            .await
            .map_err(|f| match f.code {
                ErrorCode::AccessDenied => Failure::new(
                    ErrorCode::ReaderNotAllowed,
                    format!("{reader} may not read these records: {}", f.message),
                ),
                _ => f,
            })?;
        // The patient's own wraps too: her client re-wraps her past keys
        // for her new key after a rotation.
        if !matches!(
            allowed.basis,
            AccessBasis::Grant | AccessBasis::Guardian | AccessBasis::Patient
        ) {
            return Err(Failure::new(
                ErrorCode::ReaderNotAllowed,
                format!(
                    "wraps are uploaded for a grantee, the guardian or the patient; {reader} reads by {}",
                    basis_name(allowed.basis)
                ),
            ));
        }
        basis = allowed.basis;
    }
    let key = access::reader_key(&g.chain, &patient, &reader, basis).await?;
    let stored = store::insert_wraps(&mut db, &reader.to_string(), &key.to_bytes(), &wraps).await?;
    tracing::info!(patient = %patient, reader = %reader, stored, "wraps uploaded");
    Ok(Json(WrapResult {
        stored,
        already_present: wraps.len() as u64 - stored,
    }))
}
