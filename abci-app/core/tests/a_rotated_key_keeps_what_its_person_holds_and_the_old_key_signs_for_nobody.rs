//! A participant replaces their key by a transaction the old key signs: a
//! clinician's grants and role, a patient's grants and guardian follow the
//! person (their address), the old key is refused from the next block on,
//! and no key ever signs for two people.

use ehr_ledger::mock_consensus::Actor;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::actions::*;
use ehr_testkit::world::*;

fn decision(w: &World, patient: &Actor, accessor: &Actor, category: &str) -> AccessDecision {
    w.query(&format!(
        "/access/{}/{}/{category}",
        patient.address(),
        accessor.address()
    ))
}

#[test]
fn a_doctor_rotates_his_key_and_reads_and_prescribes_under_the_same_grant() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals, Category::Medications],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let mut laptop = actor("the doctor's new laptop");
    let tx = w.doctor.tx(rotate_key(&w.doctor, &laptop.key));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "key_rotated", "address"),
        Some(w.doctor.address().to_string())
    );
    assert_eq!(
        event_attr(&r, "key_rotated", "key"),
        Some(laptop.address().to_string())
    );
    // The person keeps his entry, role and grant; the entry names the new key.
    let me: Participant = w.query(&format!("/participant/{}", w.doctor.address()));
    assert_eq!(me.public_key, laptop.public_key());
    assert_eq!(me.role, Role::Doctor as i32);
    assert_eq!(me.key_height, w.node.height());
    let bound: KeyBinding = w.query(&format!("/key/{}", laptop.address()));
    assert_eq!(bound.identity, w.doctor.addr());
    assert!(decision(&w, &w.alice, &w.doctor, "vitals").allowed);
    // The new key prescribes as the doctor (the trail's signer is his address).
    let tx = laptop.tx(prescribe(&w.alice, 0, w.now() + DAY));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "tx", "signer"),
        Some(w.doctor.address().to_string())
    );
    // The old key signs for nobody, whatever it sends.
    let tx = w.doctor.tx(prescribe(&w.alice, 0, w.now() + DAY));
    let r = w.refused(tx, Code::KeyReplaced);
    assert!(r.log.contains("sign with the current key"), "{}", r.log);
    let tx = w.doctor.tx(rotate_key(&w.doctor, &actor("thief").key));
    w.refused(tx, Code::KeyReplaced);
    // And the new key rotates again: the first two are both dead.
    let phone = actor("the doctor's phone");
    let tx = laptop.tx(rotate_key(&w.doctor, &phone.key));
    w.ok(tx);
    let tx = laptop.tx(prescribe(&w.alice, 0, w.now() + DAY));
    w.refused(tx, Code::KeyReplaced);
}

#[test]
fn a_patient_rotates_her_key_and_revokes_with_the_new_one_what_she_granted_with_the_old() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.ok(g);
    let mut phone = actor("alice's new phone");
    let tx = w.alice.tx(rotate_key(&w.alice, &phone.key));
    w.ok(tx);
    // Her guardian still acts for her: guardianship follows her address.
    let me: Participant = w.query(&format!("/participant/{}", w.alice.address()));
    assert_eq!(me.guardian_public_key, w.alice_guardian.public_key());
    assert!(decision(&w, &w.alice, &w.doctor, "vitals").allowed);
    let revoke = Kind::RevokeAccess(RevokeAccess {
        patient: w.alice.addr(),
        grantee: clinician(w.doctor.addr()),
        categories: vec![],
    });
    let tx = w.alice.tx(revoke.clone());
    w.refused(tx, Code::KeyReplaced);
    let tx = phone.tx(revoke);
    w.ok(tx);
    assert!(!decision(&w, &w.alice, &w.doctor, "vitals").allowed);
}

#[test]
fn a_key_serves_one_person_for_ever_and_proves_it_is_held() {
    let mut w = World::new();
    // Another participant's key, or a key already bound, is refused.
    let tx = w.alice.tx(rotate_key(&w.alice, &w.bob.key));
    w.refused(tx, Code::AlreadyRegistered);
    let phone = actor("alice's new phone");
    let tx = w.alice.tx(rotate_key(&w.alice, &phone.key));
    w.ok(tx);
    let tx = w.nurse.tx(rotate_key(&w.nurse, &phone.key));
    let r = w.refused(tx, Code::KeyInUse);
    assert!(r.log.contains("make a new one"), "{}", r.log);
    // Registering staff or enrolling a patient with a bound key: refused too.
    let tx = w.admin.tx(register_staff(phone.public_key(), Role::Nurse));
    w.refused(tx, Code::KeyInUse);
    let tx = w.admin.tx(enroll(phone.public_key()));
    w.refused(tx, Code::KeyInUse);
    // A proof signed by another key than the one bound: refused.
    let laptop = actor("nurse's laptop");
    let mut forged = rotate_key(&w.nurse, &laptop.key);
    if let Kind::RotateKey(r) = &mut forged {
        r.new_public_key = actor("somebody else").public_key();
    }
    let tx = w.nurse.tx(forged);
    let r = w.refused(tx, Code::InvalidField);
    assert!(r.log.contains("new_key_proof"), "{}", r.log);
    // A proof of binding to another person is no proof for this one.
    let tx = w.nurse.tx(rotate_key(&w.doctor, &laptop.key));
    w.refused(tx, Code::InvalidField);
    // Bad bytes are refused before any state is read.
    let tx = w.nurse.tx(Kind::RotateKey(RotateKey {
        new_public_key: vec![2; 33],
        new_key_proof: vec![0; 10],
        participant: vec![],
    }));
    w.refused(tx, Code::InvalidField);
}

#[test]
fn a_suspended_key_cannot_replace_itself_and_a_stranger_has_no_key_to_replace() {
    let mut w = World::new();
    let tx = w.admin.tx(Kind::Suspend(SuspendParticipant {
        address: w.nurse.addr(),
    }));
    w.ok(tx);
    let tx = w.nurse.tx(rotate_key(&w.nurse, &actor("thief's key").key));
    let r = w.refused(tx, Code::Suspended);
    assert!(r.log.contains("registers a new key"), "{}", r.log);
    let tx = w.stranger.tx(rotate_key(&w.stranger, &actor("x").key));
    w.refused(tx, Code::NotRegistered);
    // A service is replaced by registering a new one: its key is its name.
    let tx = w.gateway.tx(rotate_key(&w.gateway, &actor("y").key));
    let r = w.refused(tx, Code::WrongRole);
    assert!(r.log.contains("registers a service"), "{}", r.log);
}

#[test]
fn a_stolen_laptops_key_is_replaced_by_his_admin_and_the_doctor_keeps_his_grants() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Medications],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.admin.tx(Kind::Suspend(SuspendParticipant {
        address: w.doctor.addr(),
    }));
    w.ok(tx);
    let mut laptop = actor("the doctor's replacement laptop");
    let replace = |target: &Actor, new: &Actor| {
        let mut k = rotate_key(target, &new.key);
        if let Kind::RotateKey(r) = &mut k {
            r.participant = target.addr();
        }
        k
    };
    // Only his own organisation's admin replaces his key, only once it is
    // suspended; never a patient's.
    let tx = w.admin.tx(replace(&w.nurse, &actor("the admin's own key")));
    let r = w.refused(tx, Code::StatusUnchanged);
    assert!(r.log.contains("suspend the stolen key first"), "{}", r.log);
    let action = replace(&w.doctor, &laptop);
    let tx = w.north_admin.tx(action.clone());
    w.refused(tx, Code::WrongOrganisation);
    let tx = w.nurse.tx(action.clone());
    w.refused(tx, Code::WrongRole);
    let tx = w.admin.tx(replace(&w.alice, &actor("x")));
    w.refused(tx, Code::WrongOrganisation);
    let tx = w.admin.tx(action);
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "key_rotated", "basis").as_deref(),
        Some("admin")
    );
    // The thief's key is dead even once the doctor is reinstated …
    let tx = w.admin.tx(Kind::Reinstate(ReinstateParticipant {
        address: w.doctor.addr(),
    }));
    w.ok(tx);
    let tx = w.doctor.tx(prescribe(&w.alice, 0, w.now() + DAY));
    w.refused(tx, Code::KeyReplaced);
    // … and the doctor prescribes under the grant she gave him.
    let tx = laptop.tx(prescribe(&w.alice, 0, w.now() + DAY));
    w.ok(tx);
}
