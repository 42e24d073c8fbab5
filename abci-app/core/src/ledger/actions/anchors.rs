//! Anchors: a record's ciphertext hash, or an ingest batch's Merkle root.

use crate::crypto::Address;
use crate::proto::{
    AccessLevel, AnchorBatch, AnchorRecord, Category, Counter, DailyCount, RecordRef, ServiceKind,
    StoredBatchAnchor, StoredRecordAnchor,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::access::decide;
use super::super::actors::{self, require_service};
use super::super::context::Ctx;
use super::super::keys;

/// Records anchored one by one for one patient in one day (lab results,
/// orders, prescriptions, notes): far above any patient's care, far below
/// what would grow the state without end. Device readings are anchored in
/// batches by ingest services and do not count.
pub const MAX_RECORDS_PER_PATIENT_PER_DAY: u64 = 1_000;

/// Counts one more anchored record for the patient today, or refuses.
pub(super) fn count_record_today(ctx: &mut Ctx, patient: &Address) -> Result<(), Refusal> {
    let day = ctx.time.div_euclid(86_400);
    let key = keys::records_today(patient);
    let mut today: DailyCount = ctx.state.get(key.as_bytes())?.unwrap_or_default();
    if today.day != day {
        today = DailyCount { day, count: 0 };
    }
    if today.count >= MAX_RECORDS_PER_PATIENT_PER_DAY {
        return refuse(
            Code::QuotaExceeded,
            format!(
                "{MAX_RECORDS_PER_PATIENT_PER_DAY} records were already anchored for {patient} today; try again tomorrow"
            ),
        );
    }
    today.count += 1;
    ctx.state.put(key, &today);
    Ok(())
}

/// Stores a record anchor authored by the signer; record ids are unique.
pub fn store_record(ctx: &mut Ctx, record: &RecordRef) -> Result<(), Refusal> {
    let key = keys::record(&record.record_id);
    ctx.require_absent(&key, Code::RecordExists, || {
        format!("record {} is already anchored", record.record_id)
    })?;
    count_record_today(ctx, &actors::address("patient", &record.patient)?)?;
    ctx.state.put(
        key,
        &StoredRecordAnchor {
            record: Some(record.clone()),
            author: ctx.signer.0.to_vec(),
            height: ctx.height as i64,
            anchored_at: ctx.time,
            ..Default::default()
        },
    );
    ctx.emit(
        "record_anchored",
        &[
            ("record_id", record.record_id.clone()),
            (
                "patient",
                actors::address("patient", &record.patient)?.to_string(),
            ),
            ("ciphertext_sha256", hex::encode(&record.ciphertext_sha256)),
        ],
    );
    Ok(())
}

/// The author must be the patient, their guardian, or a clinician with write
/// access to the category (a grant, or an open emergency access).
pub fn record(ctx: &mut Ctx, a: &AnchorRecord) -> Result<(), Refusal> {
    let record = a.record.clone().unwrap_or_default();
    let patient = actors::address("patient", &record.patient)?;
    let category = Category::try_from(record.category).unwrap_or(Category::Unspecified);
    decide(
        ctx.state,
        &ctx.signer,
        &patient,
        category,
        AccessLevel::Write,
        ctx.time,
    )?
    .into_result()?;
    store_record(ctx, &record)
}

pub fn batch(ctx: &mut Ctx, b: &AnchorBatch) -> Result<(), Refusal> {
    require_service(
        ctx.state,
        &ctx.signer,
        ServiceKind::Ingest,
        "an ingest service may anchor batches",
    )?;
    let key = keys::batch(&ctx.signer, b.batch_id);
    ctx.require_absent(&key, Code::BatchExists, || {
        format!("this service already anchored batch {}", b.batch_id)
    })?;
    ctx.state.put(
        key,
        &StoredBatchAnchor {
            service: ctx.signer.0.to_vec(),
            batch_id: b.batch_id,
            merkle_root: b.merkle_root.clone(),
            record_count: b.record_count,
            first_record: b.first_record,
            last_record: b.last_record,
            height: ctx.height as i64,
            anchored_at: ctx.time,
        },
    );
    let next_key = keys::next_batch(&ctx.signer);
    let mut next: Counter = ctx.state.get(next_key.as_bytes())?.unwrap_or_default();
    next.next = next.next.max(b.batch_id.saturating_add(1));
    ctx.state.put(next_key, &next);
    ctx.emit(
        "batch_anchored",
        &[
            ("service", ctx.signer.to_string()),
            ("batch_id", b.batch_id.to_string()),
            ("merkle_root", hex::encode(&b.merkle_root)),
            ("record_count", b.record_count.to_string()),
        ],
    );
    Ok(())
}
