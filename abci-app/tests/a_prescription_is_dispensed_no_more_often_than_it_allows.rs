//! Only a doctor with write access to medications prescribes; only a pharmacist
//! dispenses, never more than 1 + refills times, never after its validity.

mod common;

use common::*;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;

fn dispense(id: u64) -> Kind {
    Kind::Dispense(Dispense {
        prescription_id: id,
    })
}

#[test]
fn a_pharmacist_dispenses_one_plus_refills_times_and_no_more() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Medications],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.doctor.tx(prescribe(&w.alice, 2, w.now() + 30 * DAY));
    let r = w.ok(tx);
    let id: u64 = event_attr(&r, "prescribed", "prescription_id")
        .unwrap()
        .parse()
        .unwrap();

    for remaining in ["2", "1", "0"] {
        let tx = w.pharmacist.tx(dispense(id));
        let r = w.ok(tx);
        assert_eq!(
            event_attr(&r, "dispensed", "fills_remaining").as_deref(),
            Some(remaining)
        );
    }
    let tx = w.pharmacist.tx(dispense(id));
    w.refused(tx, Code::PrescriptionExhausted);
    let rx: Prescription = w.query(&format!("/prescription/{id}"));
    assert_eq!(rx.fills.len(), 3);
    assert_eq!(rx.fills_allowed, 3);
    let list: PrescriptionList = w.query(&format!("/prescriptions/{}", w.alice.address()));
    assert_eq!(list.items.len(), 1);
}

#[test]
fn only_pharmacists_dispense_and_only_doctors_prescribe() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Medications],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let g = w.grant(
        w.nurse.addr(),
        &[Category::Medications],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.nurse.tx(prescribe(&w.alice, 0, w.now() + DAY));
    w.refused(tx, Code::WrongRole);
    let tx = w.pharmacist.tx(prescribe(&w.alice, 0, w.now() + DAY));
    w.refused(tx, Code::WrongRole);
    let tx = w.doctor.tx(prescribe(&w.bob, 0, w.now() + DAY));
    w.refused(tx, Code::NoAccess);
    let tx = w.doctor.tx(prescribe(&w.alice, 0, w.now() + DAY));
    w.ok(tx);
    for signer in [&mut w.doctor, &mut w.nurse, &mut w.lab_tech, &mut w.alice] {
        let tx = signer.tx(dispense(1));
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::WrongRole, "{}", r.log);
    }
    let tx = w.pharmacist.tx(dispense(42));
    w.refused(tx, Code::UnknownPrescription);
    let tx = w.pharmacist.tx(dispense(1));
    w.ok(tx);
}

#[test]
fn an_expired_prescription_is_not_dispensed() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Medications],
        AccessLevel::Write,
        w.now() + 30 * DAY,
    );
    w.ok(g);
    let tx = w.doctor.tx(prescribe(&w.alice, 5, w.now() + DAY));
    w.ok(tx);
    let tx = w.doctor.tx(prescribe(&w.alice, 5, w.now() - 1));
    w.refused(tx, Code::ExpiryNotInFuture);
    w.node.advance_time(2 * DAY);
    let tx = w.pharmacist.tx(dispense(1));
    w.refused(tx, Code::PrescriptionExpired);
    // Too many refills is malformed.
    let tx = w.doctor.tx(prescribe(&w.alice, 12, w.now() + DAY));
    w.refused(tx, Code::InvalidField);
}
