//! A patient's right to have a wrong record amended (HIPAA §164.526), on a
//! ledger that forgets nothing: the patient (or guardian) asks, with a
//! sealed reason, the organisation of the record's author; it accepts — the
//! correction is a new sealed record that supersedes the old, both kept and
//! linked — or denies on one of the grounds the rule allows, and the patient
//! may attach a sealed statement of disagreement. Every step is anchored;
//! nothing of what was said is on chain, only who, when, which record, the
//! ground of a denial and the hashes.
//!
//! Who decides: the record's author, or an active doctor or admin of the
//! author's organisation. The rule wants a decision within 60 days; a later
//! one is still taken, and marked late.

use crate::crypto::Address;
use crate::proto::{
    AcceptAmendment, Amendment, AmendmentStatus, Category, Counter, DenialReason, DenyAmendment,
    FileDisagreement, ParticipantKind, ParticipantStatus, RecordRef, RequestAmendment, Role,
    StoredRecordAnchor,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::actors::{self, require_patient_or_guardian};
use super::super::context::Ctx;
use super::super::keys;
use super::anchors::store_record;

/// How long the rule gives an organisation to act on a request.
pub const DECIDE_WITHIN_SECS: i64 = 60 * 86_400;

fn anchor(state: &impl StateRead, record_id: &str) -> Result<StoredRecordAnchor, Refusal> {
    state
        .get(keys::record(record_id).as_bytes())?
        .ok_or_else(|| {
            Refusal::new(
                Code::UnknownRecord,
                format!("no record {record_id} is anchored one by one: only such records (orders, prescriptions, results, notes, details) are amended"),
            )
        })
}

pub fn load(state: &impl StateRead, id: u64) -> Result<Amendment, Refusal> {
    state.get(keys::amendment(id).as_bytes())?.ok_or_else(|| {
        Refusal::new(
            Code::UnknownAmendment,
            format!("there is no amendment {id}"),
        )
    })
}

/// The open amendment `id` that `signer` may decide: they wrote the record,
/// or are an active doctor or admin of the author's organisation (the
/// gateway stores the sealed correction by the same rule).
pub fn to_decide(state: &impl StateRead, signer: &Address, id: u64) -> Result<Amendment, Refusal> {
    let a = load(state, id)?;
    let me = actors::participant(state, signer)?;
    let staff = me.filter(|p| {
        p.kind == ParticipantKind::Staff as i32
            && p.status == ParticipantStatus::Active as i32
            && p.org_id == a.org_id
    });
    let author = anchor(state, &a.record_id)?.author == signer.0;
    let allowed = staff
        .is_some_and(|p| author || p.role == Role::Doctor as i32 || p.role == Role::Admin as i32);
    if !allowed || !actors::is_active_member(state, &a.org_id)? {
        return refuse(
            Code::WrongRole,
            format!(
                "amendment {id} is decided by the record's author or an active doctor or admin of {}",
                a.org_id
            ),
        );
    }
    if a.status != AmendmentStatus::Requested as i32 {
        return refuse(
            Code::AmendmentClosed,
            format!("amendment {id} was already decided"),
        );
    }
    Ok(a)
}

/// Anchors a record of amendment `a` (its request, correction, explanation
/// or disagreement): the patient's, in the amended record's category.
fn anchor_linked(
    ctx: &mut Ctx,
    a: &Amendment,
    record: &Option<RecordRef>,
    category: Category,
    amends: &str,
) -> Result<String, Refusal> {
    let record = record.clone().unwrap_or_default();
    if record.patient != a.patient || record.category != category as i32 {
        return refuse(
            Code::InvalidField,
            format!(
                "the records of amendment {} are the patient's, of the amended record's category ({})",
                a.id,
                category.as_str_name()
            ),
        );
    }
    store_record(ctx, &record)?;
    let key = keys::record(&record.record_id);
    let mut stored: StoredRecordAnchor = ctx.state.get(key.as_bytes())?.unwrap_or_default();
    stored.amendment_id = a.id;
    stored.amends = amends.to_string();
    ctx.state.put(key, &stored);
    Ok(record.record_id)
}

fn category_of(anchor: &StoredRecordAnchor) -> Category {
    anchor
        .record
        .as_ref()
        .and_then(|r| Category::try_from(r.category).ok())
        .unwrap_or(Category::Unspecified)
}

pub fn request(ctx: &mut Ctx, r: &RequestAmendment) -> Result<(), Refusal> {
    let original = anchor(ctx.state, &r.record_id)?;
    let record = original.record.clone().unwrap_or_default();
    require_patient_or_guardian(
        ctx.state,
        &ctx.signer,
        &record.patient,
        "ask for the amendment of their records",
    )?;
    if !original.superseded_by.is_empty() {
        return refuse(
            Code::AmendmentClosed,
            format!(
                "record {} was superseded by {}: ask for the amendment of the current version",
                r.record_id, original.superseded_by
            ),
        );
    }
    let author = actors::address("author", &original.author)?;
    let org_id = match actors::participant(ctx.state, &author)? {
        Some(p) if p.kind != ParticipantKind::Patient as i32 && !p.org_id.is_empty() => p.org_id,
        _ => {
            return refuse(
                Code::SelfAction,
                format!(
                    "record {} was written by the patient or their guardian: write a new version rather than ask for an amendment",
                    r.record_id
                ),
            )
        }
    };
    let open = keys::amendment_of(&r.record_id);
    if let Some(c) = ctx.state.get::<Counter>(open.as_bytes())? {
        if load(ctx.state, c.next)?.status == AmendmentStatus::Requested as i32 {
            return refuse(
                Code::AmendmentPending,
                format!(
                    "amendment {} of record {} is not decided yet",
                    c.next, r.record_id
                ),
            );
        }
    }
    let patient = actors::address("patient", &record.patient)?;
    let mut a = Amendment {
        id: ctx.next_id(keys::NEXT_AMENDMENT)?,
        patient: record.patient.clone(),
        record_id: r.record_id.clone(),
        requested_by: ctx.signer.0.to_vec(),
        status: AmendmentStatus::Requested as i32,
        requested_at: ctx.time,
        due_at: ctx.time.saturating_add(DECIDE_WITHIN_SECS),
        org_id,
        ..Default::default()
    };
    a.request_id = anchor_linked(ctx, &a, &r.request, category_of(&original), "")?;
    ctx.state.put(keys::amendment(a.id), &a);
    ctx.state.put(
        keys::indexed(&keys::patient_amendments(&patient), a.id),
        &Counter::default(),
    );
    ctx.state.put(open, &Counter { next: a.id });
    ctx.emit(
        "amendment_requested",
        &[
            ("amendment_id", a.id.to_string()),
            ("patient", patient.to_string()),
            ("record_id", a.record_id.clone()),
            ("org_id", a.org_id.clone()),
        ],
    );
    Ok(())
}

fn decided(ctx: &mut Ctx, a: &mut Amendment, status: AmendmentStatus) {
    a.status = status as i32;
    a.decided_by = ctx.signer.0.to_vec();
    a.decided_at = ctx.time;
    a.late = ctx.time > a.due_at;
    ctx.state.put(keys::amendment(a.id), &*a);
    ctx.emit(
        "amendment_decided",
        &[
            ("amendment_id", a.id.to_string()),
            (
                "decision",
                if status == AmendmentStatus::Accepted {
                    "accepted"
                } else {
                    "denied"
                }
                .to_string(),
            ),
            ("late", a.late.to_string()),
        ],
    );
}

pub fn accept(ctx: &mut Ctx, acc: &AcceptAmendment) -> Result<(), Refusal> {
    let mut a = to_decide(ctx.state, &ctx.signer, acc.amendment_id)?;
    let original_key = keys::record(&a.record_id);
    let mut original = anchor(ctx.state, &a.record_id)?;
    let correction = anchor_linked(
        ctx,
        &a,
        &acc.correction,
        category_of(&original),
        &a.record_id.clone(),
    )?;
    original.superseded_by = correction.clone();
    ctx.state.put(original_key, &original);
    a.correction_id = correction;
    decided(ctx, &mut a, AmendmentStatus::Accepted);
    Ok(())
}

pub fn deny(ctx: &mut Ctx, d: &DenyAmendment) -> Result<(), Refusal> {
    let mut a = to_decide(ctx.state, &ctx.signer, d.amendment_id)?;
    if d.explanation.is_some() {
        let category = category_of(&anchor(ctx.state, &a.record_id)?);
        a.explanation_id = anchor_linked(ctx, &a, &d.explanation, category, "")?;
    }
    a.denial_reason = DenialReason::try_from(d.reason).unwrap_or_default() as i32;
    decided(ctx, &mut a, AmendmentStatus::Denied);
    Ok(())
}

pub fn disagree(ctx: &mut Ctx, f: &FileDisagreement) -> Result<(), Refusal> {
    let mut a = load(ctx.state, f.amendment_id)?;
    require_patient_or_guardian(
        ctx.state,
        &ctx.signer,
        &a.patient,
        "file a statement of disagreement",
    )?;
    if a.status != AmendmentStatus::Denied as i32 || !a.disagreement_id.is_empty() {
        return refuse(
            Code::AmendmentClosed,
            format!(
                "a statement of disagreement is attached once, to a denied amendment; amendment {} is {}",
                a.id,
                if a.disagreement_id.is_empty() {
                    "not denied"
                } else {
                    "already disputed"
                }
            ),
        );
    }
    let category = category_of(&anchor(ctx.state, &a.record_id)?);
    a.disagreement_id = anchor_linked(ctx, &a, &f.statement, category, "")?;
    ctx.state.put(keys::amendment(a.id), &a);
    ctx.emit(
        "disagreement_filed",
        &[
            ("amendment_id", a.id.to_string()),
            ("record_id", a.record_id.clone()),
        ],
    );
    Ok(())
}
