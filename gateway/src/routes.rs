//! The HTTP surface (docs/gateway.openapi.yaml): thin handlers over `auth`,
//! `access`, `store`, `proofs` and `disclosures`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::get;
use axum::{Json, Router};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ehr_client::read_path::api::{
    AnchorProof, DocumentItem, DocumentStored, DocumentUpload, DocumentsPage, KeysPage, OwnKey,
    RecordItem, RecordsPage, WrapResult, WrapUpload, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_WRAPS,
    MAX_PAGE,
};
use ehr_client::read_path::request_auth::Caller;
use ehr_client::record_encryption::{unwrap_key, wrap_key, WRAPPED_KEY_LEN};
use ehr_client::service::now_ms;
use ehr_ledger::crypto::Address;
use ehr_ledger::ledger::access::category_name;
use ehr_ledger::proto::{AccessBasis, Category, Purpose};
use serde_json::json;

use crate::access;
use crate::auth::authenticate;
use crate::disclosures::{self, NewDisclosure};
use crate::error::{ErrorCode, Failure};
use crate::standing;
use crate::store::{self, RecordFilter};
use crate::Gateway;

type Shared = State<Arc<Gateway>>;
type Params = Query<HashMap<String, String>>;

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/patients/{patient}/records", get(records))
        .route(
            "/v1/patients/{patient}/wrapped-keys",
            get(own_keys).post(upload_wraps),
        )
        .route(
            "/v1/patients/{patient}/documents",
            get(documents).post(put_document),
        )
        .with_state(gateway)
}

async fn health(State(g): Shared) -> Result<Json<serde_json::Value>, Failure> {
    let db = g.db.get().await?;
    let (pending, committed) = disclosures::counts(&db).await?;
    Ok(Json(json!({
        "status": "ok",
        // The audience requests to this gateway are signed for.
        "address": g.key.address().to_string(),
        "disclosures_pending": pending,
        "disclosures_committed": committed,
    })))
}

fn patient_address(s: &str) -> Result<Address, Failure> {
    s.parse::<Address>().map_err(|_| {
        Failure::new(
            ErrorCode::BadPatient,
            format!("{s:?} is not a patient address (ehr1… or 40 hex digits)"),
        )
    })
}

fn category_param(p: &HashMap<String, String>) -> Result<Category, Failure> {
    let name = p.get("category").map(String::as_str).ok_or_else(|| {
        Failure::new(
            ErrorCode::BadCategory,
            "say which category: category=vitals, labs, medications, notes, imaging or all",
        )
    })?;
    category(name)
}

fn category(name: &str) -> Result<Category, Failure> {
    [
        Category::Vitals,
        Category::Labs,
        Category::Medications,
        Category::Notes,
        Category::Imaging,
        Category::All,
    ]
    .into_iter()
    .find(|c| category_name(*c) == name)
    .ok_or_else(|| {
        Failure::new(
            ErrorCode::BadCategory,
            format!("{name:?} is not a category: vitals, labs, medications, notes, imaging or all"),
        )
    })
}

fn time_param(p: &HashMap<String, String>, name: &'static str) -> Result<Option<i64>, Failure> {
    p.get(name)
        .map(|s| {
            ehr_ledger::time::parse_rfc3339(s).ok_or_else(|| {
                Failure::new(
                    ErrorCode::BadTime,
                    format!("{name}={s:?} is not an RFC 3339 time such as 2026-11-24T08:00:00Z"),
                )
            })
        })
        .transpose()
}

fn int_param(
    p: &HashMap<String, String>,
    name: &'static str,
    default: i64,
) -> Result<i64, Failure> {
    match p.get(name) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| {
            Failure::new(
                ErrorCode::BadParameter,
                format!("{name}={s:?} is not a whole number"),
            )
        }),
    }
}

fn limit_param(p: &HashMap<String, String>) -> Result<i64, Failure> {
    let limit = int_param(p, "limit", 500)?;
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Failure::new(
            ErrorCode::BadParameter,
            format!("limit must be 1..={MAX_PAGE}, got {limit}"),
        ));
    }
    Ok(limit)
}

fn purpose_param(p: &HashMap<String, String>, basis: AccessBasis) -> Result<Purpose, Failure> {
    let default = match basis {
        AccessBasis::Emergency => Purpose::Emergency,
        AccessBasis::Patient | AccessBasis::Guardian => Purpose::PatientRequest,
        _ => Purpose::Treatment,
    };
    match p.get("purpose").map(String::as_str) {
        None => Ok(default),
        Some("treatment") => Ok(Purpose::Treatment),
        Some("emergency") => Ok(Purpose::Emergency),
        Some("patient_request") => Ok(Purpose::PatientRequest),
        Some("payment") => Ok(Purpose::Payment),
        Some("operations") => Ok(Purpose::Operations),
        Some(other) => Err(Failure::new(ErrorCode::BadPurpose,
            format!("{other:?} is not a purpose: treatment, emergency, patient_request, payment or operations"),
        )),
    }
}

/// The cursor of the next page: set when this page is full.
fn next_after(count: usize, limit: i64, last_seq: Option<i64>) -> Option<i64> {
    last_seq.filter(|_| count as i64 == limit)
}

fn basis_name(b: AccessBasis) -> String {
    b.as_str_name()
        .trim_start_matches("ACCESS_BASIS_")
        .to_string()
}

/// The data key for the caller: their own wrap; under an open emergency
/// access, the escrow wrap opened by this gateway and wrapped for the caller.
fn key_for_caller(
    g: &Gateway,
    record_id: &str,
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
        return (None, None);
    };
    match unwrap_key(&g.key, record_id, escrow) {
        Ok(data_key) => (
            Some(B64.encode(wrap_key(&caller.public_key, record_id, &data_key))),
            Some("emergency".into()),
        ),
        Err(_) => {
            tracing::warn!(record = %record_id, "an escrow wrap does not open with this gateway's key");
            (None, None)
        }
    }
}

async fn records(
    State(g): Shared,
    Path(patient): Path<String>,
    Query(p): Params,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<RecordsPage>, Failure> {
    let patient = patient_address(&patient)?;
    let caller = authenticate(&g, &method, &uri, &headers, &[]).await?;
    let category = category_param(&p)?;
    let (from, to) = (time_param(&p, "from")?, time_param(&p, "to")?);
    let after = int_param(&p, "after", 0)?;
    let limit = limit_param(&p)?;
    let allowed = access::may_read(&g.rpc, &patient, &caller.address, category).await?;
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
        after,
        limit,
    };
    let stored = store::records(&db, &filter, &caller_name, escrow).await?;

    let mut items = Vec::with_capacity(stored.len());
    for r in &stored {
        let anchor = match &r.anchored {
            Some((service, height, root, count)) => {
                // The path stored with the record; rebuilt from the batch's
                // leaves for records stored before paths were.
                let path = match r.merkle_path.as_deref().filter(|p| p.len() % 32 == 0) {
                    Some(p) => Some(p.chunks(32).map(hex::encode).collect()),
                    None => g
                        .proofs
                        .path(&db, r.batch_id, r.leaf_index as usize)
                        .await?
                        .map(|p| p.iter().map(hex::encode).collect()),
                };
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
            &r.record_id,
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
            ciphertext: B64.encode(&r.ciphertext),
            ciphertext_sha256: hex::encode(&r.ciphertext_sha256),
            wrapped_key,
            key_source,
            anchor,
        });
    }

    // The outbox row is written before anything is served.
    let served = stored.iter().map(|r| (r.category, r.record_id.as_str()));
    let disclosure_ids = disclose(&db, &caller, &patient, purpose, served, allowed.basis).await?;
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
/// row per category, before anything is answered; the rows' ids.
async fn disclose<'a>(
    db: &deadpool_postgres::Object,
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
    let new: Vec<NewDisclosure> = by_category
        .into_iter()
        .map(|(category, record_ids)| NewDisclosure {
            accessor: caller.address,
            patient: *patient,
            category,
            purpose,
            record_ids,
            disclosed_at: now,
        })
        .collect();
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

/// The clinical documents of a category the caller may read now, each
/// disclosure in the outbox before the answer.
async fn documents(
    State(g): Shared,
    Path(patient): Path<String>,
    Query(p): Params,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<DocumentsPage>, Failure> {
    let patient = patient_address(&patient)?;
    let caller = authenticate(&g, &method, &uri, &headers, &[]).await?;
    let category = category_param(&p)?;
    let after = int_param(&p, "after", 0)?;
    let limit = limit_param(&p)?;
    let allowed = access::may_read(&g.rpc, &patient, &caller.address, category).await?;
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
    let served = stored.iter().map(|d| (d.category, d.record_id.as_str()));
    let disclosure_ids = disclose(&db, &caller, &patient, purpose, served, allowed.basis).await?;
    let items: Vec<DocumentItem> = stored
        .iter()
        .map(|d| {
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
                ciphertext: B64.encode(&d.ciphertext),
                ciphertext_sha256: hex::encode(&d.ciphertext_sha256),
                wrapped_key,
                key_source,
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
async fn put_document(
    State(g): Shared,
    Path(patient): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<DocumentStored>, Failure> {
    let patient = patient_address(&patient)?;
    let caller = authenticate(&g, &method, &uri, &headers, &body).await?;
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
            "documents are labs, medications, notes or imaging, not {}",
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
    access::may_write(&g.rpc, &patient, &caller.address, category).await?;
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

async fn own_keys(
    State(g): Shared,
    Path(patient): Path<String>,
    Query(p): Params,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<KeysPage>, Failure> {
    let patient = patient_address(&patient)?;
    let caller = authenticate(&g, &method, &uri, &headers, &[]).await?;
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
    access::patient_or_guardian(&g.rpc, &patient, &caller.address).await?;
    let db = g.db.get().await?;
    let rows = store::own_keys_missing_for(
        &db,
        &patient.to_string(),
        (category != Category::All).then_some(category),
        &caller.address.to_string(),
        &missing_for.to_string(),
        after,
        limit,
    )
    .await?;
    Ok(Json(KeysPage {
        patient: patient.to_string(),
        next_after: next_after(rows.len(), limit, rows.last().map(|r| r.0)),
        keys: rows
            .into_iter()
            .map(|(seq, record_id, category, wrapped)| OwnKey {
                record_id,
                seq,
                category: category_name(category).to_string(),
                wrapped_key: B64.encode(wrapped),
            })
            .collect(),
    }))
}

async fn upload_wraps(
    State(g): Shared,
    Path(patient): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WrapResult>, Failure> {
    let patient = patient_address(&patient)?;
    let caller = authenticate(&g, &method, &uri, &headers, &body).await?;
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
                        w.record_id
                    ),
                )
            })?;
        wraps.push((w.record_id.clone(), bytes));
    }
    access::patient_or_guardian(&g.rpc, &patient, &caller.address).await?;

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
        let allowed = access::may_read(&g.rpc, &patient, &reader, c)
            .await
            .map_err(|f| {
                Failure::new(
                    ErrorCode::ReaderNotAllowed,
                    format!("{reader} may not read these records: {}", f.message),
                )
            })?;
        if !matches!(allowed.basis, AccessBasis::Grant | AccessBasis::Guardian) {
            return Err(Failure::new(
                ErrorCode::ReaderNotAllowed,
                format!(
                    "wraps are uploaded for a grantee or the guardian; {reader} reads by {}",
                    basis_name(allowed.basis)
                ),
            ));
        }
        basis = allowed.basis;
    }
    let key = access::reader_key(&g.rpc, &patient, &reader, basis).await?;
    let stored = store::insert_wraps(&mut db, &reader.to_string(), &key.to_bytes(), &wraps).await?;
    tracing::info!(patient = %patient, reader = %reader, stored, "wraps uploaded");
    Ok(Json(WrapResult {
        stored,
        already_present: wraps.len() as u64 - stored,
    }))
}
