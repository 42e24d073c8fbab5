//! Clinical documents (orders, prescriptions): read under the chain's
//! decision, and stored by the author the chain lets write them.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ehr_client::read_path::api::{
    DocumentItem, DocumentStored, DocumentUpload, DocumentsPage, MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_WRAPS,
};
use ehr_client::record_encryption::WRAPPED_KEY_LEN;
use ehr_ledger::crypto::Address;
use ehr_ledger::ledger::access::category_name;
use ehr_ledger::proto::{AccessBasis, Category};

use crate::access;
use crate::error::{ErrorCode, Failure};
use crate::standing;
use crate::store::{self};

use super::*;

/// The clinical documents of a category the caller may read now, each
/// disclosure in the outbox before the answer.
pub(super) async fn documents(
    State(g): Shared,
    Query(p): Params,
    SignedRead { patient, caller }: SignedRead,
) -> Result<Json<DocumentsPage>, Failure> {
    let category = category_param(&p)?;
    let after = int_param(&p, "after", 0)?;
    let limit = limit_param(&p)?;
    let allowed = access::may_read(&g.chain, &patient, &caller.address, category).await?;
    let purpose = purpose_param(&p, allowed.basis)?;
    let db = g.db.get().await?;
    standing::can_audit(&g, &db).await?;
    let gateway_name = g.key.address().to_string();
    let escrow = (allowed.basis == AccessBasis::Emergency).then_some(gateway_name.as_str());
    let stored = store::documents(
        &db,
        &patient.to_string(),
        (category != Category::All).then_some(category),
        &caller.address.to_string(),
        escrow,
        after,
        limit,
    )
    .await?;
    // An erased document's tombstone discloses nothing.
    let served = stored
        .iter()
        .filter(|d| d.erasure_id.is_none())
        .map(|d| (d.category, d.record_id.as_str()));
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
    let items: Vec<DocumentItem> = stored
        .iter()
        .map(|d| {
            // A document's key is its own: its key id is the document's record id.
            let (wrapped_key, key_source) = key_for_caller(
                &g,
                &d.record_id,
                d.wrapped_key.as_deref(),
                d.escrow_key.as_deref(),
                &caller,
                allowed.basis,
            );
            DocumentItem {
                record_id: d.record_id.clone(),
                seq: d.seq,
                category: category_name(d.category).to_string(),
                author: d.author.clone(),
                stored_at_ms: d.stored_at_ms,
                ciphertext: d
                    .ciphertext
                    .as_ref()
                    .map(|c| B64.encode(c))
                    .unwrap_or_default(),
                ciphertext_sha256: hex::encode(&d.ciphertext_sha256),
                wrapped_key: wrapped_key.filter(|_| d.erasure_id.is_none()),
                key_source: key_source.filter(|_| d.erasure_id.is_none()),
                erasure_id: d.erasure_id.map(|e| e as u64),
            }
        })
        .collect();
    Ok(Json(DocumentsPage {
        patient: patient.to_string(),
        category: category_name(category).to_string(),
        basis: basis_name(allowed.basis),
        height: allowed.height,
        next_after: next_after(items.len(), limit, stored.last().map(|d| d.seq)),
        documents: items,
        disclosure_ids,
    }))
}

/// Stores a clinical document its author may write (the chain decides), with
/// a wrap for the patient among its wraps.
pub(super) async fn put_document(
    State(g): Shared,
    SignedWrite {
        patient,
        caller,
        body,
    }: SignedWrite,
) -> Result<Json<DocumentStored>, Failure> {
    let bad = |m: String| Failure::new(ErrorCode::BadDocument, m);
    let upload: DocumentUpload = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            ErrorCode::BadBody,
            format!("the body is not a document upload: {e}"),
        )
    })?;
    let id_ok = !upload.record_id.is_empty()
        && upload.record_id.len() <= 64
        && upload
            .record_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if !id_ok {
        return Err(bad(
            "record_id must be 1..=64 characters of A-Z a-z 0-9 . _ : -".into(),
        ));
    }
    let category = category_param(&HashMap::from([(
        "category".to_string(),
        upload.category.clone(),
    )]))?;
    if matches!(category, Category::Vitals | Category::All) {
        return Err(bad(format!(
            "documents are labs, medications, notes, imaging or demographics, not {}",
            upload.category
        )));
    }
    let ciphertext = B64
        .decode(&upload.ciphertext)
        .ok()
        .filter(|c| !c.is_empty() && c.len() <= MAX_DOCUMENT_BYTES)
        .ok_or_else(|| {
            bad(format!(
                "ciphertext must be 1..={MAX_DOCUMENT_BYTES} bytes of base64"
            ))
        })?;
    if upload.wraps.is_empty() || upload.wraps.len() > MAX_DOCUMENT_WRAPS {
        return Err(bad(format!("send 1..={MAX_DOCUMENT_WRAPS} wraps")));
    }
    let mut wraps: Vec<(String, Vec<u8>)> = Vec::with_capacity(upload.wraps.len());
    for w in &upload.wraps {
        let reader = w
            .reader
            .parse::<Address>()
            .map_err(|_| {
                Failure::new(
                    ErrorCode::BadReader,
                    format!("{:?} is not an address", w.reader),
                )
            })?
            .to_string();
        let key = B64
            .decode(&w.wrapped_key)
            .ok()
            .filter(|b| b.len() == WRAPPED_KEY_LEN)
            .ok_or_else(|| {
                Failure::new(
                    ErrorCode::BadWrap,
                    format!("the wrap for {reader} is not {WRAPPED_KEY_LEN} bytes of base64"),
                )
            })?;
        if wraps.iter().any(|(r, _)| *r == reader) {
            return Err(Failure::new(
                ErrorCode::BadWrap,
                format!("two wraps for {reader}"),
            ));
        }
        wraps.push((reader, key));
    }
    if !wraps.iter().any(|(r, _)| *r == patient.to_string()) {
        return Err(Failure::new(
            ErrorCode::BadWrap,
            format!("a document of {patient} carries a wrap for {patient}: the patient reads everything written about them"),
        ));
    }
    match (upload.order_id, upload.amendment_id) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "a document answers an order or an amendment, not both".into()
            ))
        }
        (None, Some(id)) => {
            // Stored under the amendment's names: one correction, one
            // explanation.
            let names = [
                ehr_client::read_path::documents::correction_id(id),
                ehr_client::read_path::documents::denial_id(id),
            ];
            if !names.contains(&upload.record_id) {
                return Err(bad(format!(
                    "a record of amendment {id} is stored as {} or {}, not {}",
                    names[0], names[1], upload.record_id
                )));
            }
            access::may_decide_amendment(&g.chain, &patient, &caller.address, id).await?
        }
        (Some(order_id), None) if category == Category::Labs => {
            // One result per order: it is stored under the order's name.
            let expected = ehr_client::read_path::documents::result_id(order_id);
            if upload.record_id != expected {
                return Err(bad(format!(
                    "the result of order {order_id} is stored as {expected}, not {}",
                    upload.record_id
                )));
            }
            access::may_post_result(&g.chain, &patient, &caller.address, order_id).await?
        }
        (Some(_), None) => return Err(bad("only a labs document answers an order".into())),
        (None, None) => {
            access::may_write(&g.chain, &patient, &caller.address, category).await?;
        }
    }
    let hash = ehr_ledger::crypto::sha256(&ciphertext);
    let mut db = g.db.get().await?;
    let doc = store::NewDocument {
        record_id: &upload.record_id,
        patient: &patient.to_string(),
        category,
        author: &caller.address.to_string(),
        ciphertext: &ciphertext,
        ciphertext_sha256: &hash,
        wraps: &wraps,
    };
    let seq = store::insert_document(&mut db, &doc)
        .await?
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::DocumentExists,
                format!(
                    "a document {} is already stored; choose another id",
                    upload.record_id
                ),
            )
        })?;
    tracing::info!(author = %caller.address, patient = %patient, seq, "document stored");
    Ok(Json(DocumentStored {
        record_id: upload.record_id,
        seq,
        ciphertext_sha256: hex::encode(hash),
    }))
}
