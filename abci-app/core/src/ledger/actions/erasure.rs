//! A patient's right to erasure (GDPR art. 17) on a ledger that forgets
//! nothing: what is erased is the content, off chain. The decision is here —
//! who asked, under what, what it covers, when — and every service keeping
//! the records follows it (ingest, the gateways): ciphertexts and every wrap
//! of their keys deleted (crypto-shredding), analytics rows deleted. The
//! anchors stay, hashes only, so a reader is shown "erased on <date> under
//! <basis>" and proves it here, rather than a record missing or failing.
//!
//! A hospital that must keep records — litigation, a regulator's retention,
//! an investigation — sets a legal hold: erasure of what it covers is
//! refused, with the hold's reason and end, until it ends or is released.

use crate::crypto::Address;
use crate::proto::{
    Category, Counter, Device, EraseRecords, Erasure, ErasureBasis, HoldReason, LegalHold,
    LegalHoldList, Role, SetLegalHold, StoredRecordAnchor,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::access::category_name;
use super::super::actors::{self, require_patient, require_patient_or_guardian, require_staff};
use super::super::context::Ctx;
use super::super::keys;

/// Record ids one erasure may name (more go by category, or in more
/// erasures: each counts against the patient's daily quota of anchored
/// records, as every validator keeps it).
pub const MAX_ERASED_IDS: usize = 100;

/// Whether erasure `e` covers a record `record_id` of `category` anchored
/// at `height` (what was written after an erasure is not erased by it).
pub fn covers(e: &Erasure, record_id: &str, category: Category, height: u64) -> bool {
    height <= e.height
        && (e.everything
            || e.record_ids.iter().any(|r| r == record_id)
            || e.categories.contains(&(category as i32)))
}

pub fn basis_words(b: i32) -> &'static str {
    match ErasureBasis::try_from(b).unwrap_or_default() {
        ErasureBasis::PatientRequest => "the patient's request (GDPR art. 17)",
        ErasureBasis::ConsentWithdrawn => "consent withdrawn",
        ErasureBasis::LegalOrder => "a legal order",
        ErasureBasis::Unspecified => "an unstated basis",
    }
}

fn holds(state: &impl StateRead, patient: &Address) -> Result<LegalHoldList, Refusal> {
    Ok(state
        .get(keys::legal_holds(patient).as_bytes())?
        .unwrap_or_default())
}

/// The categories an erasure touches: those named, the named records' —
/// anchored one by one and the patient's, or a reading of a device bound to
/// her (`<device>:<seq>`, vitals) — or all. Any other id is refused: an
/// erasure names what exists, so no hold is dodged by a record anchored later.
fn touched(
    state: &impl StateRead,
    patient: &Address,
    e: &EraseRecords,
) -> Result<Option<Vec<i32>>, Refusal> {
    let mut cats = e.categories.clone();
    for id in &e.record_ids {
        let anchored = state
            .get::<StoredRecordAnchor>(keys::record(id).as_bytes())?
            .and_then(|a| a.record)
            .filter(|r| r.patient == patient.0);
        let c = match anchored {
            Some(r) => r.category,
            None => {
                let device = id.rsplit_once(':').map(|(d, _)| d).unwrap_or_default();
                let hers = state
                    .get::<Device>(keys::device(device).as_bytes())?
                    .is_some_and(|d| d.patient == patient.0);
                if !hers {
                    return refuse(
                        Code::UnknownRecord,
                        format!("{id} is neither a record of {patient} anchored on chain nor a reading of a device bound to her"),
                    );
                }
                Category::Vitals as i32
            }
        };
        if !cats.contains(&c) {
            cats.push(c);
        }
    }
    Ok((!e.everything).then_some(cats))
}

pub fn erase(ctx: &mut Ctx, e: &EraseRecords) -> Result<(), Refusal> {
    let patient = actors::address("patient", &e.patient)?;
    require_patient(ctx.state, &patient)?;
    if e.basis == ErasureBasis::LegalOrder as i32 {
        require_staff(
            ctx.state,
            &ctx.signer,
            &[Role::Admin],
            "an admin of a member erases records under a legal order",
        )?;
    } else {
        require_patient_or_guardian(ctx.state, &ctx.signer, &e.patient, "erase their records")?;
    }
    let touched = touched(ctx.state, &patient, e)?;
    // Every validator keeps the entry: it counts as an anchored record.
    super::anchors::count_record_today(ctx, &patient)?;
    for h in holds(ctx.state, &patient)?.items {
        let overlaps = match &touched {
            None => true,
            Some(cats) => h.categories.is_empty() || cats.iter().any(|c| h.categories.contains(c)),
        };
        if h.until > ctx.time && overlaps {
            let reason = match HoldReason::try_from(h.reason).unwrap_or_default() {
                HoldReason::Litigation => "litigation",
                HoldReason::RegulatoryRetention => "a regulator's retention",
                HoldReason::Investigation => "an investigation",
                HoldReason::Unspecified => "a hold",
            };
            return refuse(
                Code::LegalHold,
                format!(
                    "{} must keep these records of {patient} until {} under {reason} ({}): nothing is erased until the hold ends or {} releases it",
                    h.org_id,
                    crate::time::rfc3339(h.until),
                    h.reference,
                    h.org_id
                ),
            );
        }
    }
    let erasure = Erasure {
        id: ctx.next_id(keys::NEXT_ERASURE)?,
        patient: e.patient.clone(),
        record_ids: e.record_ids.clone(),
        categories: e.categories.clone(),
        everything: e.everything,
        basis: e.basis,
        reference: e.reference.clone(),
        erased_by: ctx.signer.0.to_vec(),
        erased_at: ctx.time,
        height: ctx.height,
    };
    ctx.state.put(keys::erasure(erasure.id), &erasure);
    ctx.state.put(
        keys::indexed(&keys::patient_erasures(&patient), erasure.id),
        &Counter::default(),
    );
    let scope = if e.everything {
        "everything".to_string()
    } else {
        let mut parts: Vec<String> = e
            .categories
            .iter()
            .map(|c| category_name(Category::try_from(*c).unwrap_or_default()).to_string())
            .collect();
        if !e.record_ids.is_empty() {
            parts.push(format!("{} record(s)", e.record_ids.len()));
        }
        parts.join(", ")
    };
    ctx.emit(
        "records_erased",
        &[
            ("patient", patient.to_string()),
            ("erasure_id", erasure.id.to_string()),
            ("scope", scope),
        ],
    );
    Ok(())
}

pub fn hold(ctx: &mut Ctx, h: &SetLegalHold) -> Result<(), Refusal> {
    let admin = require_staff(
        ctx.state,
        &ctx.signer,
        &[Role::Admin],
        "an admin of a member sets a legal hold",
    )?;
    let patient = actors::address("patient", &h.patient)?;
    require_patient(ctx.state, &patient)?;
    if h.until != 0 {
        ctx.require_future("until", h.until)?;
    }
    let mut list = holds(ctx.state, &patient)?;
    list.items.retain(|x| x.org_id != admin.org_id);
    if h.until != 0 {
        list.items.push(LegalHold {
            patient: h.patient.clone(),
            org_id: admin.org_id.clone(),
            categories: h.categories.clone(),
            until: h.until,
            reason: h.reason,
            reference: h.reference.clone(),
            set_by: ctx.signer.0.to_vec(),
        });
    }
    ctx.state.put(keys::legal_holds(&patient), &list);
    ctx.emit(
        "legal_hold",
        &[
            ("patient", patient.to_string()),
            ("org_id", admin.org_id),
            ("until", h.until.to_string()),
        ],
    );
    Ok(())
}
