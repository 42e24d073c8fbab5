//! Who a patient is (their sealed demographics) is anchored by the patient,
//! their guardian or an admin of the hospital that enrolled them — not by an
//! admin of another hospital, nor by a clinician without a write grant for
//! exactly that (an `all` grant or break-glass is not one) — and read by
//! whoever may read any category of theirs.

use ehr_ledger::mock_consensus::Actor;
use ehr_ledger::proto::*;
use ehr_ledger::Code;
use ehr_testkit::world::*;

const DAY: i64 = 86_400;

#[test]
fn demographics_are_sealed_by_the_patient_or_their_hospitals_front_desk_and_read_by_anyone_who_reads_them(
) {
    let mut w = World::new();
    // Alice was enrolled by general: general's admin is her front desk.
    let alice: Participant = w.query(&format!("/participant/{}", w.alice.address()));
    assert_eq!(alice.org_id, "general");

    let tx = w.admin.tx(anchor("pt-1", &w.alice, Category::Demographics));
    w.ok(tx);
    let tx = w.alice.tx(anchor("pt-2", &w.alice, Category::Demographics));
    w.ok(tx);
    let tx = w
        .alice_guardian
        .tx(anchor("pt-3", &w.alice, Category::Demographics));
    w.ok(tx);
    // Another hospital's front desk is not hers.
    let tx = w
        .north_admin
        .tx(anchor("pt-4", &w.alice, Category::Demographics));
    w.refused(tx, Code::WrongRole);
    // A clinician she let read her vitals reads who she is, but may not rewrite it.
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w
        .doctor
        .tx(anchor("pt-5", &w.alice, Category::Demographics));
    w.refused(tx, Code::NoAccess);

    // Nor may a nurse with a write grant for everything (orders and notes are
    // not who she is), nor a doctor who broke the glass (he may read it).
    let g = w.grant(
        w.nurse.addr(),
        &[Category::All],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.nurse.tx(anchor("pt-6", &w.alice, Category::Demographics));
    w.refused(tx, Code::NoAccess);
    let tx = w.north_doctor.tx(emergency(&w.alice));
    w.ok(tx);
    let tx = w
        .north_doctor
        .tx(anchor("pt-7", &w.alice, Category::Demographics));
    w.refused(tx, Code::NoAccess);
    assert!(w.access(&w.alice, &w.north_doctor, "demographics").allowed);
    // A grant for exactly that lets a clinician correct it.
    let g = w.grant(
        w.nurse.addr(),
        &[Category::Demographics],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.nurse.tx(anchor("pt-8", &w.alice, Category::Demographics));
    w.ok(tx);

    let read = |w: &World, who: &Actor| w.access(&w.alice, who, "demographics");
    let doctor = read(&w, &w.doctor);
    assert!(doctor.allowed, "{}", doctor.reason);
    assert_eq!(doctor.basis, AccessBasis::Grant as i32);
    let front_desk = read(&w, &w.admin);
    assert!(front_desk.allowed, "{}", front_desk.reason);
    assert_eq!(front_desk.basis, AccessBasis::HomeOrganisation as i32);
    // Nobody else: a pharmacist with no grant, another hospital's admin, another patient.
    for who in [&w.pharmacist, &w.north_admin, &w.bob] {
        assert!(!read(&w, who).allowed);
    }
    // The home organisation's admin reads demographics only, not records.
    assert!(!w.access(&w.alice, &w.admin, "vitals").allowed);

    // Revoking everything revokes who she is too.
    let revoke = w.alice.tx(action::Kind::RevokeAccess(RevokeAccess {
        patient: w.alice.addr(),
        grantee: clinician(w.doctor.addr()),
        categories: vec![],
    }));
    w.ok(revoke);
    assert!(!read(&w, &w.doctor).allowed);
}
