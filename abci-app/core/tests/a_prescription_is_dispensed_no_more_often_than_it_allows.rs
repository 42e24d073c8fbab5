//! Only a doctor with write access to medications prescribes; only a pharmacist
//! of a pharmacy the patient chose dispenses, never more than 1 + refills
//! times, never after its validity. What is prescribed never reaches the chain:
//! the prescription anchors its encrypted content.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

fn dispense(id: u64) -> Kind {
    Kind::Dispense(Dispense {
        prescription_id: id,
    })
}

/// Alice lets her doctor prescribe for `secs`.
fn doctor_may_prescribe(w: &mut World, secs: i64) {
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Medications],
        AccessLevel::Write,
        w.now() + secs,
    );
    w.ok(g);
}

/// Alice chooses General's pharmacy: its staff may read her medications.
fn alice_chooses_general_pharmacy(w: &mut World) {
    let g = Kind::GrantAccess(GrantAccess {
        patient: w.alice.addr(),
        grantee: organisation("general"),
        categories: vec![Category::Medications as i32],
        access: AccessLevel::Read as i32,
        expires_at: w.now() + 60 * DAY,
    });
    let tx = w.alice.tx(g);
    w.ok(tx);
}

#[test]
fn a_pharmacist_dispenses_one_plus_refills_times_and_no_more() {
    let mut w = World::new();
    doctor_may_prescribe(&mut w, DAY);
    let tx = w.doctor.tx(prescribe(&w.alice, 2, w.now() + 30 * DAY));
    let r = w.ok(tx);
    let id: u64 = event_attr(&r, "prescribed", "prescription_id")
        .unwrap()
        .parse()
        .unwrap();
    alice_chooses_general_pharmacy(&mut w);

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
    doctor_may_prescribe(&mut w, DAY);
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
    alice_chooses_general_pharmacy(&mut w);
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
    doctor_may_prescribe(&mut w, 30 * DAY);
    let tx = w.doctor.tx(prescribe(&w.alice, 5, w.now() + DAY));
    w.ok(tx);
    let tx = w.doctor.tx(prescribe(&w.alice, 5, w.now() - 1));
    w.refused(tx, Code::ExpiryNotInFuture);
    alice_chooses_general_pharmacy(&mut w);
    w.node.advance_time(2 * DAY);
    let tx = w.pharmacist.tx(dispense(1));
    w.refused(tx, Code::PrescriptionExpired);
    // Too many refills is malformed.
    let tx = w.doctor.tx(prescribe(&w.alice, 12, w.now() + DAY));
    w.refused(tx, Code::InvalidField);
}

#[test]
fn a_pharmacist_of_a_pharmacy_the_patient_did_not_choose_cannot_fill_or_exhaust_it() {
    let mut w = World::new();
    doctor_may_prescribe(&mut w, DAY);
    let rogue = actor("pharmacist@north");
    let tx = w
        .north_admin
        .tx(register_staff(rogue.public_key(), Role::Pharmacist));
    w.ok(tx);
    let mut rogue = rogue;
    let tx = w.doctor.tx(prescribe(&w.alice, 1, w.now() + 30 * DAY));
    w.ok(tx);

    // Before alice chooses a pharmacy nobody fills it, not even General's.
    let tx = w.pharmacist.tx(dispense(1));
    w.refused(tx, Code::NoAccess);
    alice_chooses_general_pharmacy(&mut w);
    // North's pharmacist walks the sequential ids: refused, nothing used up.
    for id in 1..=3 {
        let tx = rogue.tx(dispense(id));
        let r = w.node.deliver(tx);
        assert!(
            r.code == Code::NoAccess || r.code == Code::UnknownPrescription,
            "{:?}: {}",
            r.code,
            r.log
        );
    }
    let rx: Prescription = w.query("/prescription/1");
    assert!(rx.fills.is_empty());
    let tx = w.pharmacist.tx(dispense(1));
    w.ok(tx);
}

#[test]
fn what_is_prescribed_stays_off_chain_and_the_state_holds_its_hash() {
    let mut w = World::new();
    doctor_may_prescribe(&mut w, DAY);
    let content = record("rx-amlodipine", &w.alice, Category::Medications);
    let tx = w.doctor.tx(Kind::Prescribe(Prescribe {
        patient: w.alice.addr(),
        refills: 0,
        valid_until: w.now() + DAY,
        content: Some(content.clone()),
    }));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "prescribed", "record_id").as_deref(),
        Some("rx-amlodipine")
    );
    let rx: Prescription = w.query("/prescription/1");
    assert_eq!(rx.content_record_id, "rx-amlodipine");
    let anchored: StoredRecordAnchor = w.query("/record/rx-amlodipine");
    assert_eq!(anchored.record, Some(content.clone()));
    assert_eq!(anchored.author, w.doctor.addr());
    // Its content record cannot be anchored a second time by another prescription.
    let tx = w.doctor.tx(Kind::Prescribe(Prescribe {
        patient: w.alice.addr(),
        refills: 0,
        valid_until: w.now() + DAY,
        content: Some(content),
    }));
    w.refused(tx, Code::RecordExists);
    // With another patient's record, or without its content, it is refused
    // (the second before the rules, so last: its nonce is not used).
    for content in [Some(record("rx-bob", &w.bob, Category::Medications)), None] {
        let tx = w.doctor.tx(Kind::Prescribe(Prescribe {
            patient: w.alice.addr(),
            refills: 0,
            valid_until: w.now() + DAY,
            content,
        }));
        w.refused(tx, Code::InvalidField);
    }
}

#[test]
fn a_prescription_corrected_by_an_accepted_amendment_is_dispensed_no_more() {
    let mut w = World::new();
    doctor_may_prescribe(&mut w, 90 * DAY);
    let tx = w.doctor.tx(prescribe(&w.alice, 2, w.now() + 30 * DAY));
    let r = w.ok(tx);
    let id: u64 = event_attr(&r, "prescribed", "prescription_id")
        .unwrap()
        .parse()
        .unwrap();
    alice_chooses_general_pharmacy(&mut w);
    let tx = w.pharmacist.tx(dispense(id));
    w.ok(tx);
    // She asks to amend it (the dose is wrong); the doctor accepts.
    let rx: Prescription = w.query(&format!("/prescription/{id}"));
    let tx = w.alice.tx(ehr_testkit::actions::request_amendment(
        &w.alice,
        &rx.content_record_id,
        "why-rx",
        Category::Medications,
    ));
    w.ok(tx);
    let tx = w.doctor.tx(ehr_testkit::actions::accept_amendment(
        1,
        &w.alice,
        "correction-1",
        Category::Medications,
    ));
    w.ok(tx);
    // Two fills were left: none is dispensed of what the prescriber corrected.
    let tx = w.pharmacist.tx(dispense(id));
    let r = w.refused(tx, Code::PrescriptionCorrected);
    assert!(
        r.log.contains("correction-1") && r.log.contains("new prescription"),
        "{}",
        r.log
    );
    let rx: Prescription = w.query(&format!("/prescription/{id}"));
    assert_eq!(rx.fills.len(), 1);
}
