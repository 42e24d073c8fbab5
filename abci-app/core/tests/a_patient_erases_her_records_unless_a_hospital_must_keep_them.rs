//! A patient erases records — some, a category, everything — and the
//! decision is on chain for every service to follow, the anchors kept; a
//! member's admin erases under a legal order; a hospital's legal hold
//! refuses erasure of what it covers, saying whose hold, why and until when.

use ehr_ledger::ledger::actions::erasure::covers;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::actions::*;
use ehr_testkit::world::*;

fn erasure(w: &World, id: u64) -> Erasure {
    w.query(&format!("/erasure/{id}"))
}

#[test]
fn she_erases_a_category_and_the_decision_is_on_chain_with_its_scope() {
    let mut w = World::new();
    let tx = w.alice.tx(erase(
        &w.alice,
        &[Category::Vitals],
        ErasureBasis::PatientRequest,
    ));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "records_erased", "scope").as_deref(),
        Some("vitals")
    );
    let e = erasure(&w, 1);
    assert_eq!(e.patient, w.alice.addr());
    assert_eq!(e.basis, ErasureBasis::PatientRequest as i32);
    assert_eq!(e.height, w.node.height());
    assert!(covers(&e, "hr-1:7", Category::Vitals, e.height));
    assert!(!covers(&e, "rx-1", Category::Medications, e.height));
    // What is written after the erasure is not erased by it.
    assert!(!covers(&e, "hr-1:8", Category::Vitals, e.height + 1));
    let list: ErasureList = w.query(&format!("/erasures/{}", w.alice.address()));
    assert_eq!(list.items.len(), 1);
    // Her guardian may; another patient may not.
    let tx = w.bob.tx(erase(&w.alice, &[], ErasureBasis::PatientRequest));
    w.refused(tx, Code::NotPatientOrGuardian);
    let tx = w.alice_guardian.tx(erase(
        &w.alice,
        &[Category::Notes],
        ErasureBasis::ConsentWithdrawn,
    ));
    w.ok(tx);
}

#[test]
fn a_legal_hold_refuses_erasure_of_what_it_covers_until_released() {
    let mut w = World::new();
    let until = w.now() + 365 * DAY;
    let tx = w
        .north_admin
        .tx(legal_hold(&w.alice, &[Category::Labs], until));
    w.ok(tx);
    let holds: LegalHoldList = w.query(&format!("/holds/{}", w.alice.address()));
    assert_eq!(holds.items[0].org_id, "north");
    for refused in [
        erase(&w.alice, &[Category::Labs], ErasureBasis::PatientRequest),
        erase(&w.alice, &[], ErasureBasis::PatientRequest),
    ] {
        let tx = w.alice.tx(refused);
        let r = w.refused(tx, Code::LegalHold);
        assert!(
            r.log.contains("north must keep") && r.log.contains("litigation"),
            "{}",
            r.log
        );
    }
    // A labs record named by id is held too; another category is not.
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Labs],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.doctor.tx(anchor("lab-note-1", &w.alice, Category::Labs));
    w.ok(tx);
    let tx = w.alice.tx(Kind::EraseRecords(EraseRecords {
        patient: w.alice.addr(),
        record_ids: vec!["lab-note-1".into()],
        basis: ErasureBasis::PatientRequest as i32,
        ..Default::default()
    }));
    w.refused(tx, Code::LegalHold);
    let tx = w.alice.tx(erase(
        &w.alice,
        &[Category::Notes],
        ErasureBasis::PatientRequest,
    ));
    w.ok(tx);
    // Only the organisation that set it releases it; then erasure goes.
    let tx = w.admin.tx(legal_hold(&w.alice, &[], 0));
    w.ok(tx);
    let tx = w.alice.tx(erase(
        &w.alice,
        &[Category::Labs],
        ErasureBasis::PatientRequest,
    ));
    w.refused(tx, Code::LegalHold);
    let tx = w.north_admin.tx(legal_hold(&w.alice, &[], 0));
    w.ok(tx);
    let tx = w.alice.tx(erase(
        &w.alice,
        &[Category::Labs],
        ErasureBasis::PatientRequest,
    ));
    w.ok(tx);
}

#[test]
fn a_legal_order_is_an_admins_and_every_erasure_says_what_and_why() {
    let mut w = World::new();
    // A patient does not invoke a legal order; an admin does, with its reference.
    let tx = w.alice.tx(erase(&w.alice, &[], ErasureBasis::LegalOrder));
    w.refused(tx, Code::WrongRole);
    let tx = w
        .admin
        .tx(erase(&w.alice, &[], ErasureBasis::PatientRequest));
    w.refused(tx, Code::NotPatientOrGuardian);
    // What it names must exist: her anchored records, her devices' readings.
    let tx = w.alice.tx(Kind::EraseRecords(EraseRecords {
        patient: w.alice.addr(),
        record_ids: vec!["rx-not-anchored-yet".into()],
        basis: ErasureBasis::PatientRequest as i32,
        ..Default::default()
    }));
    w.refused(tx, Code::UnknownRecord);
    let tx = w
        .south_admin
        .tx(erase(&w.alice, &[], ErasureBasis::LegalOrder));
    w.ok(tx);
    let e = erasure(&w, 1);
    assert!(e.everything);
    assert_eq!(e.reference, "order 2026/114 of the district court");
    assert_eq!(e.erased_by, w.south_admin.addr());
    // Refused before any state is read: the nonce is not used.
    for (bad, why) in [
        (
            Kind::EraseRecords(EraseRecords {
                patient: w.alice.addr(),
                basis: ErasureBasis::PatientRequest as i32,
                ..Default::default()
            }),
            "say what to erase",
        ),
        (
            Kind::EraseRecords(EraseRecords {
                patient: w.alice.addr(),
                everything: true,
                basis: ErasureBasis::LegalOrder as i32,
                ..Default::default()
            }),
            "reference",
        ),
        (
            erase(&w.alice, &[Category::All], ErasureBasis::PatientRequest),
            "everything=true",
        ),
        (
            legal_hold(&w.alice, &[Category::All], w.now() + DAY),
            "names none",
        ),
    ] {
        let tx = w.admin.tx(bad);
        let r = w.refused(tx, Code::InvalidField);
        assert!(r.log.contains(why), "{}", r.log);
        w.admin.nonce -= 1;
    }
}
