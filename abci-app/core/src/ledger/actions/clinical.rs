//! Clinical rules: doctors order lab tests and prescribe; the ordered lab's
//! technicians post results; pharmacists of a pharmacy the patient chose
//! dispense, never beyond the refills.
//!
//! What is ordered or prescribed is clinical content and never reaches the
//! chain: it is an encrypted record off chain whose hash is anchored here. The
//! state keeps the parties, counts and dates the rules need (docs/ledger.md).

use crate::crypto::Address;
use crate::proto::{
    AccessLevel, Category, Counter, Dispense, Fill, LabOrder, OrderLabTest, OrderStatus,
    PostLabResult, Prescribe, Prescription, RecordRef, Role, StoredRecordAnchor,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::access::decide;
use super::super::actors::{self, require_patient, require_staff};
use super::super::context::Ctx;
use super::super::keys;
use super::anchors;

pub fn order_lab_test(ctx: &mut Ctx, o: &OrderLabTest) -> Result<(), Refusal> {
    require_staff(
        ctx.state,
        &ctx.signer,
        &[Role::Doctor],
        "a doctor may order lab tests",
    )?;
    let patient = actors::address("patient", &o.patient)?;
    require_patient(ctx.state, &patient)?;
    decide(
        ctx.state,
        &ctx.signer,
        &patient,
        Category::Labs,
        AccessLevel::Write,
        ctx.time,
    )?
    .into_result()?;
    if !actors::is_active_member(ctx.state, &o.lab_org)? {
        return refuse(
            Code::UnknownOrganisation,
            format!("lab_org {} is not an active member organisation", o.lab_org),
        );
    }
    let record = clinical_record(&o.order, &patient, Category::Labs, "order")?;
    anchors::store_record(ctx, record)?;
    let id = ctx.next_id(keys::NEXT_ORDER)?;
    ctx.state.put(
        keys::order(id),
        &LabOrder {
            id,
            patient: o.patient.clone(),
            doctor: ctx.signer.0.to_vec(),
            lab_org: o.lab_org.clone(),
            status: OrderStatus::Open as i32,
            ordered_at: ctx.time,
            order_record_id: record.record_id.clone(),
            ..Default::default()
        },
    );
    ctx.state.put(
        keys::indexed(&keys::patient_orders(&patient), id),
        &Counter::default(),
    );
    // The lab's worklist: its open orders.
    ctx.state.put(
        keys::indexed(&keys::lab_orders(&o.lab_org), id),
        &Counter::default(),
    );
    ctx.emit(
        "lab_ordered",
        &[
            ("order_id", id.to_string()),
            ("patient", patient.to_string()),
            ("lab_org", o.lab_org.clone()),
            ("record_id", record.record_id.clone()),
        ],
    );
    Ok(())
}

/// The open order `order_id` that `signer` may post the result of: they
/// are a lab technician of the ordered lab. The order, not a grant, lets
/// the lab write the result (the gateway stores the sealed result by the
/// same rule).
pub fn order_to_fulfil(
    state: &impl StateRead,
    signer: &Address,
    order_id: u64,
) -> Result<LabOrder, Refusal> {
    let tech = require_staff(
        state,
        signer,
        &[Role::LabTechnician],
        "a lab technician of the ordered lab may post a result",
    )?;
    let order: LabOrder = state
        .get(keys::order(order_id).as_bytes())?
        .ok_or_else(|| {
            Refusal::new(
                Code::UnknownOrder,
                format!("there is no lab order {order_id}"),
            )
        })?;
    if tech.org_id != order.lab_org {
        return refuse(
            Code::WrongOrganisation,
            format!(
                "order {order_id} is for the lab of {}, the signer works for {}",
                order.lab_org, tech.org_id
            ),
        );
    }
    if order.status != OrderStatus::Open as i32 {
        return refuse(
            Code::OrderNotOpen,
            format!("order {order_id} already has a result"),
        );
    }
    Ok(order)
}

pub fn post_lab_result(ctx: &mut Ctx, p: &PostLabResult) -> Result<(), Refusal> {
    let mut order = order_to_fulfil(ctx.state, &ctx.signer, p.order_id)?;
    let key = keys::order(p.order_id);
    let record = p.record.clone().unwrap_or_default();
    if record.patient != order.patient || record.category != Category::Labs as i32 {
        return refuse(
            Code::InvalidField,
            "the result record must be a labs record of the order's patient",
        );
    }
    anchors::store_record(ctx, &record)?;
    order.status = OrderStatus::Fulfilled as i32;
    ctx.state
        .delete(keys::indexed(&keys::lab_orders(&order.lab_org), p.order_id));
    order.result_record_id = record.record_id.clone();
    order.fulfilled_by = ctx.signer.0.to_vec();
    ctx.state.put(key, &order);
    ctx.emit(
        "lab_result",
        &[
            ("order_id", p.order_id.to_string()),
            ("record_id", record.record_id),
        ],
    );
    Ok(())
}

pub fn prescribe(ctx: &mut Ctx, p: &Prescribe) -> Result<(), Refusal> {
    require_staff(
        ctx.state,
        &ctx.signer,
        &[Role::Doctor],
        "a doctor may prescribe",
    )?;
    let patient = actors::address("patient", &p.patient)?;
    require_patient(ctx.state, &patient)?;
    decide(
        ctx.state,
        &ctx.signer,
        &patient,
        Category::Medications,
        AccessLevel::Write,
        ctx.time,
    )?
    .into_result()?;
    ctx.require_future("valid_until", p.valid_until)?;
    let record = clinical_record(&p.content, &patient, Category::Medications, "content")?;
    anchors::store_record(ctx, record)?;
    let id = ctx.next_id(keys::NEXT_PRESCRIPTION)?;
    let fills_allowed = 1 + p.refills;
    ctx.state.put(
        keys::prescription(id),
        &Prescription {
            id,
            patient: p.patient.clone(),
            doctor: ctx.signer.0.to_vec(),
            fills_allowed,
            fills: vec![],
            prescribed_at: ctx.time,
            valid_until: p.valid_until,
            content_record_id: record.record_id.clone(),
        },
    );
    ctx.state.put(
        keys::indexed(&keys::patient_prescriptions(&patient), id),
        &Counter::default(),
    );
    ctx.emit(
        "prescribed",
        &[
            ("prescription_id", id.to_string()),
            ("patient", patient.to_string()),
            ("fills_allowed", fills_allowed.to_string()),
            ("record_id", record.record_id.clone()),
        ],
    );
    Ok(())
}

pub fn dispense(ctx: &mut Ctx, d: &Dispense) -> Result<(), Refusal> {
    require_staff(
        ctx.state,
        &ctx.signer,
        &[Role::Pharmacist],
        "a pharmacist may dispense",
    )?;
    let key = keys::prescription(d.prescription_id);
    let mut rx: Prescription = ctx.state.get(key.as_bytes())?.ok_or_else(|| {
        Refusal::new(
            Code::UnknownPrescription,
            format!("there is no prescription {}", d.prescription_id),
        )
    })?;
    // The patient chooses the pharmacy: a pharmacist dispenses only with the
    // patient's grant to read their medications (personally or through the
    // pharmacy's organisation), so no pharmacist of another member can fill,
    // or exhaust, a prescription the patient did not send them.
    let patient = actors::address("patient", &rx.patient)?;
    decide(
        ctx.state,
        &ctx.signer,
        &patient,
        Category::Medications,
        AccessLevel::Read,
        ctx.time,
    )?
    .into_result()?;
    if ctx.time > rx.valid_until {
        return refuse(
            Code::PrescriptionExpired,
            format!(
                "prescription {} was valid until {}",
                d.prescription_id, rx.valid_until
            ),
        );
    }
    // A prescription an accepted amendment corrected is not what the
    // prescriber means any more: its fills stop, and the pharmacist is told
    // to ask for a new prescription (the correction is a record, not one).
    let anchored: Option<StoredRecordAnchor> = ctx
        .state
        .get(keys::record(&rx.content_record_id).as_bytes())?;
    if let Some(corrected) = anchored.filter(|a| !a.superseded_by.is_empty()) {
        return refuse(
            Code::PrescriptionCorrected,
            format!(
                "prescription {} was corrected by {} (amendment {}): do not dispense it; \
                 ask the prescriber for a new prescription",
                d.prescription_id, corrected.superseded_by, corrected.amendment_id
            ),
        );
    }
    if rx.fills.len() as u64 >= u64::from(rx.fills_allowed) {
        return refuse(
            Code::PrescriptionExhausted,
            format!(
                "prescription {} allows {} fills and all were dispensed",
                d.prescription_id, rx.fills_allowed
            ),
        );
    }
    rx.fills.push(Fill {
        pharmacist: ctx.signer.0.to_vec(),
        dispensed_at: ctx.time,
    });
    let remaining = rx.fills_allowed as usize - rx.fills.len();
    ctx.state.put(key, &rx);
    ctx.emit(
        "dispensed",
        &[
            ("prescription_id", d.prescription_id.to_string()),
            ("fills_remaining", remaining.to_string()),
        ],
    );
    Ok(())
}

/// The encrypted record an order or prescription carries: it must be the
/// patient's own, of the rule's category (stateless checks did the rest).
fn clinical_record<'a>(
    record: &'a Option<RecordRef>,
    patient: &Address,
    category: Category,
    field: &str,
) -> Result<&'a RecordRef, Refusal> {
    let record = record
        .as_ref()
        .ok_or_else(|| Refusal::new(Code::InvalidField, format!("{field} is missing")))?;
    if record.patient != patient.0 || record.category != category as i32 {
        return refuse(
            Code::InvalidField,
            format!(
                "{field} must be a {} record of patient {patient}",
                super::super::access::category_name(category)
            ),
        );
    }
    Ok(record)
}
