//! Consent: a patient (or guardian) grants a clinician or an organisation
//! access to categories until an expiry; revokes at any time; research consent.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

#[test]
fn a_grant_opens_exactly_its_categories_until_its_expiry() {
    let mut w = World::new();
    let expires = w.now() + DAY;
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        expires,
    );
    w.ok(g);

    let vitals = w.access(&w.alice, &w.doctor, "vitals");
    assert!(vitals.allowed, "{}", vitals.reason);
    assert_eq!(vitals.basis, AccessBasis::Grant as i32);
    assert_eq!(vitals.until, expires);
    let labs = w.access(&w.alice, &w.doctor, "labs");
    assert!(!labs.allowed);
    assert!(labs.reason.contains("labs"), "{}", labs.reason);
    // Read does not imply write.
    let write: AccessDecision = w.query(&format!(
        "/access/{}/{}/vitals/write",
        w.alice.address(),
        w.doctor.address()
    ));
    assert!(!write.allowed);

    // Past the expiry (block time), the grant no longer counts.
    w.node.advance_time(DAY);
    w.node.block(vec![]).unwrap();
    let after = w.access(&w.alice, &w.doctor, "vitals");
    assert!(!after.allowed, "an expired grant must not open records");
}

#[test]
fn a_grant_to_an_organisation_covers_its_clinicians_but_not_others() {
    let mut w = World::new();
    let g = Kind::GrantAccess(GrantAccess {
        patient: w.alice.addr(),
        grantee: organisation("general"),
        categories: vec![Category::All as i32],
        access: AccessLevel::Read as i32,
        expires_at: w.now() + DAY,
    });
    let tx = w.alice.tx(g);
    w.ok(tx);
    for clinician in [&w.doctor, &w.nurse, &w.pharmacist, &w.lab_tech] {
        let d = w.access(&w.alice, clinician, "imaging");
        assert!(d.allowed, "{}", d.reason);
    }
    assert!(!w.access(&w.alice, &w.north_doctor, "imaging").allowed);
    // Services and admins never read records, even of a granted organisation.
    let ingest = w.access(&w.alice, &w.ingest, "vitals");
    assert!(
        !ingest.allowed && ingest.reason.contains("clinicians"),
        "{}",
        ingest.reason
    );
    assert!(!w.access(&w.alice, &w.admin, "vitals").allowed);
}

#[test]
fn revocation_takes_effect_in_the_next_block() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals, Category::Labs],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.ok(g);
    let revoke = w.alice.tx(Kind::RevokeAccess(RevokeAccess {
        patient: w.alice.addr(),
        grantee: clinician(w.doctor.addr()),
        categories: vec![Category::Vitals as i32],
    }));
    w.ok(revoke);
    assert!(!w.access(&w.alice, &w.doctor, "vitals").allowed);
    assert!(
        w.access(&w.alice, &w.doctor, "labs").allowed,
        "other categories stay"
    );

    // Revoking everything, then revoking again: nothing left to revoke.
    let all = Kind::RevokeAccess(RevokeAccess {
        patient: w.alice.addr(),
        grantee: clinician(w.doctor.addr()),
        categories: vec![],
    });
    let tx = w.alice.tx(all.clone());
    w.ok(tx);
    assert!(!w.access(&w.alice, &w.doctor, "labs").allowed);
    let tx = w.alice.tx(all);
    w.refused(tx, Code::UnknownGrant);
}

#[test]
fn the_guardian_grants_for_the_patient_and_nobody_else_can() {
    let mut w = World::new();
    let g = grant_to_clinician(
        &w.alice,
        w.nurse.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    let tx = w.alice_guardian.tx(g.clone());
    w.ok(tx);
    assert!(w.access(&w.alice, &w.nurse, "vitals").allowed);
    // The guardian reads as guardian.
    let d = w.access(&w.alice, &w.alice_guardian, "notes");
    assert_eq!(d.basis, AccessBasis::Guardian as i32);

    for signer in [&mut w.bob, &mut w.doctor, &mut w.stranger] {
        let tx = signer.tx(g.clone());
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::NotPatientOrGuardian, "{}", r.log);
    }
}

#[test]
fn grants_are_refused_when_they_cannot_mean_anything() {
    let mut w = World::new();
    // Expiry in the past.
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() - 1,
    );
    w.refused(g, Code::ExpiryNotInFuture);
    // A grantee that is not registered, or not a clinician.
    let g = w.grant(
        w.stranger.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.refused(g, Code::UnknownParticipant);
    let g = w.grant(
        w.ingest.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.refused(g, Code::WrongRole);
    let g = w.grant(
        w.admin.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.refused(g, Code::WrongRole);
    // An organisation that is not a member.
    let g = Kind::GrantAccess(GrantAccess {
        patient: w.alice.addr(),
        grantee: organisation("nowhere"),
        categories: vec![Category::Vitals as i32],
        access: AccessLevel::Read as i32,
        expires_at: w.now() + DAY,
    });
    let tx = w.alice.tx(g);
    w.refused(tx, Code::UnknownOrganisation);
    // Malformed: no category, a repeated category, no access level.
    for (cats, access) in [
        (vec![], AccessLevel::Read),
        (vec![Category::Labs, Category::Labs], AccessLevel::Read),
        (vec![Category::Labs], AccessLevel::Unspecified),
    ] {
        let g = w.grant(w.doctor.addr(), &cats, access, w.now() + DAY);
        w.refused(g, Code::InvalidField);
    }
}

#[test]
fn research_consent_is_the_patients_to_give_and_withdraw() {
    let mut w = World::new();
    let on = Kind::SetResearchConsent(SetResearchConsent {
        patient: w.alice.addr(),
        consent: true,
    });
    let tx = w.alice.tx(on.clone());
    w.ok(tx);
    let p: Participant = w.query(&format!("/participant/{}", w.alice.address()));
    assert!(p.research_consent);
    let tx = w.doctor.tx(on);
    w.refused(tx, Code::NotPatientOrGuardian);
    let off = Kind::SetResearchConsent(SetResearchConsent {
        patient: w.alice.addr(),
        consent: false,
    });
    let tx = w.alice_guardian.tx(off);
    w.ok(tx);
    let p: Participant = w.query(&format!("/participant/{}", w.alice.address()));
    assert!(!p.research_consent);
}

#[test]
fn grants_of_a_patient_are_listed() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals, Category::Notes],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let list: GrantList = w.query(&format!("/grants/{}", w.alice.address()));
    assert_eq!(list.items.len(), 2);
    assert!(list
        .items
        .iter()
        .all(|g| g.access == AccessLevel::Write as i32));
    let none: GrantList = w.query(&format!("/grants/{}", w.bob.address()));
    assert!(none.items.is_empty());
}

#[test]
fn a_clinician_and_an_organisation_list_the_grants_they_hold_until_revoked() {
    let mut w = World::new();
    let until = w.now() + DAY;
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        until,
    );
    w.ok(g);
    let by_bob = w.bob.tx(grant_to_clinician(
        &w.bob,
        w.doctor.addr(),
        &[Category::Vitals, Category::Labs],
        AccessLevel::Read,
        until,
    ));
    w.ok(by_bob);
    let to_org = w.alice.tx(Kind::GrantAccess(GrantAccess {
        patient: w.alice.addr(),
        grantee: organisation("general"),
        categories: vec![Category::Medications as i32],
        access: AccessLevel::Read as i32,
        expires_at: until,
    }));
    w.ok(to_org);

    let held: GrantList = w.query(&format!("/granted-to/{}", w.doctor.address()));
    let mut seen: Vec<(Vec<u8>, i32)> = held
        .items
        .iter()
        .map(|g| (g.patient.clone(), g.category))
        .collect();
    seen.sort();
    let mut expected = vec![
        (w.alice.addr(), Category::Vitals as i32),
        (w.bob.addr(), Category::Vitals as i32),
        (w.bob.addr(), Category::Labs as i32),
    ];
    expected.sort();
    assert_eq!(
        seen, expected,
        "the doctor's personal grants, nobody else's"
    );
    let org: GrantList = w.query("/granted-to/org:general");
    assert_eq!(org.items.len(), 1);
    assert_eq!(org.items[0].category, Category::Medications as i32);
    let none: GrantList = w.query(&format!("/granted-to/{}", w.nurse.address()));
    assert!(none.items.is_empty());

    // A revocation takes the grant out of the list; granting again puts it back once.
    let revoke = w.bob.tx(Kind::RevokeAccess(RevokeAccess {
        patient: w.bob.addr(),
        grantee: clinician(w.doctor.addr()),
        categories: vec![],
    }));
    w.ok(revoke);
    let again = w.grant(
        w.doctor.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        until + 1,
    );
    w.ok(again);
    let held: GrantList = w.query(&format!("/granted-to/{}", w.doctor.address()));
    assert_eq!(held.items.len(), 1, "{held:?}");
    assert_eq!(held.items[0].patient, w.alice.addr());
    assert_eq!(held.items[0].expires_at, until + 1);

    // A malformed grantee is refused with the reason.
    let answer = w.node.query("/granted-to/not-an-address");
    assert_eq!(answer.code as u32, 1, "{}", answer.log);
    assert!(answer.log.contains("not-an-address"), "{}", answer.log);
}
