//! A patient names recovery contacts and a threshold; when her phone is
//! lost, that many contacts and an admin who checked her identity in person
//! bind a new key, and the lost one signs for nobody from that block. A
//! thief holding the lost key cannot stop the recovery; a stranger cannot
//! start one.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::actions::*;
use ehr_testkit::world::*;

fn policy(w: &World) -> RecoveryPolicy {
    w.query(&format!("/recovery/{}", w.alice.address()))
}

#[test]
fn two_contacts_and_the_front_desk_bind_her_new_key_and_the_lost_one_is_dead() {
    let mut w = World::new();
    let tx = w.alice.tx(recovery_contacts(
        &w.alice,
        &[&w.bob, &w.nurse, &w.north_doctor],
        2,
    ));
    w.ok(tx);
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.ok(g);
    // The phone is lost. Bob approves the key of her new phone …
    let mut phone = actor("alice's phone after the loss");
    let tx = w.bob.tx(approve_recovery(&w.alice, &phone.key));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "recovery_approved", "approvals").as_deref(),
        Some("1")
    );
    // … the front desk checks her in person …
    let tx = w.north_admin.tx(approve_recovery(&w.alice, &phone.key));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "recovery_approved", "identity_checked").as_deref(),
        Some("true")
    );
    let pending = policy(&w).pending.expect("a recovery under way");
    assert_eq!(pending.approvals, vec![w.bob.addr()]);
    assert_eq!(pending.checked_by_org, "north");
    // Not yet bound: the lost key still signs.
    let me: Participant = w.query(&format!("/participant/{}", w.alice.address()));
    assert_eq!(me.public_key, w.alice.public_key());
    // … and the nurse's approval, the second contact, binds it.
    let tx = w.nurse.tx(approve_recovery(&w.alice, &phone.key));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "key_recovered", "key"),
        Some(phone.address().to_string())
    );
    assert_eq!(
        event_attr(&r, "key_rotated", "basis").as_deref(),
        Some("recovery")
    );
    let me: Participant = w.query(&format!("/participant/{}", w.alice.address()));
    assert_eq!(me.public_key, phone.public_key());
    let p = policy(&w);
    assert!(p.pending.is_none());
    let last = p.last.expect("the recovery kept");
    assert_eq!(last.new_public_key, phone.public_key());
    assert_eq!(last.height, w.node.height());
    assert_eq!(last.identity_checked_by, w.north_admin.addr());
    // The lost key is dead; her grants stand; the new key revokes one.
    let tx = w.alice.tx(research_consent(&w.alice, true));
    w.refused(tx, Code::KeyReplaced);
    let access: AccessDecision = w.query(&format!(
        "/access/{}/{}/vitals",
        w.alice.address(),
        w.doctor.address()
    ));
    assert!(access.allowed);
    let tx = phone.tx(Kind::RevokeAccess(RevokeAccess {
        patient: w.alice.addr(),
        grantee: clinician(w.doctor.addr()),
        categories: vec![],
    }));
    w.ok(tx);
    // The bound key is spent: nobody recovers to it again.
    let tx = w.bob.tx(approve_recovery(&w.alice, &phone.key));
    w.refused(tx, Code::KeyInUse);
}

#[test]
fn contacts_alone_or_the_front_desk_alone_bind_nothing() {
    let mut w = World::new();
    let tx = w
        .alice
        .tx(recovery_contacts(&w.alice, &[&w.bob, &w.admin], 2));
    w.ok(tx);
    let phone = actor("alice's phone after the loss");
    // The admin is a contact too, but an admin's approval is the identity
    // check only: the check and the contacts are different people.
    for approver in [&mut w.bob, &mut w.admin] {
        let tx = approver.tx(approve_recovery(&w.alice, &phone.key));
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::Ok, "{}", r.log);
    }
    let pending = policy(&w).pending.expect("still under way");
    assert_eq!(pending.approvals, vec![w.bob.addr()]);
    assert!(!pending.identity_checked_by.is_empty());
    let me: Participant = w.query(&format!("/participant/{}", w.alice.address()));
    assert_eq!(me.public_key, w.alice.public_key(), "no key bound yet");
}

#[test]
fn a_thief_with_the_lost_key_cannot_stop_a_recovery_and_strangers_cannot_start_one() {
    let mut w = World::new();
    // Without contacts named beforehand, nobody recovers her key.
    let phone = actor("alice's phone after the loss");
    let tx = w.bob.tx(approve_recovery(&w.alice, &phone.key));
    let r = w.refused(tx, Code::NoRecoveryContacts);
    assert!(r.log.contains("set-recovery-contacts"), "{}", r.log);
    let tx = w
        .alice
        .tx(recovery_contacts(&w.alice, &[&w.bob, &w.nurse], 1));
    w.ok(tx);
    // A stranger (not a contact, not an admin) approves nothing.
    let tx = w.stranger.tx(approve_recovery(&w.alice, &phone.key));
    w.refused(tx, Code::WrongRole);
    let tx = w.pharmacist.tx(approve_recovery(&w.alice, &phone.key));
    w.refused(tx, Code::WrongRole);
    let tx = w.bob.tx(approve_recovery(&w.alice, &phone.key));
    w.ok(tx);
    // The thief, holding the lost key, cannot change the contacts now …
    let tx = w.alice.tx(recovery_contacts(&w.alice, &[&w.stranger], 1));
    let r = w.refused(tx, Code::RecoveryPending);
    assert!(r.log.contains("14 days"), "{}", r.log);
    // … and a contact cannot switch the recovery to the thief's key …
    let thief = actor("thief");
    let tx = w.nurse.tx(approve_recovery(&w.alice, &thief.key));
    w.refused(tx, Code::RecoveryPending);
    // … only the admin who saw the patient decides which key is hers.
    let tx = w.admin.tx(approve_recovery(&w.alice, &phone.key));
    let r = w.ok(tx);
    assert!(event_attr(&r, "key_recovered", "patient").is_some());
}

#[test]
fn contacts_are_people_the_ledger_knows_and_the_threshold_is_reachable() {
    let mut w = World::new();
    let refused = [
        (
            recovery_contacts(&w.alice, &[&w.alice], 1),
            Code::SelfAction,
        ),
        (
            recovery_contacts(&w.alice, &[&w.bob, &w.bob], 1),
            Code::InvalidField,
        ),
        (
            recovery_contacts(&w.alice, &[&w.bob], 2),
            Code::InvalidField,
        ),
        (
            recovery_contacts(&w.alice, &[&w.bob], 0),
            Code::InvalidField,
        ),
        (
            recovery_contacts(&w.alice, &[&w.stranger], 1),
            Code::UnknownParticipant,
        ),
    ];
    for (action, code) in refused {
        let tx = w.alice.tx(action);
        w.refused(tx, code);
        if code != Code::UnknownParticipant {
            // Refused before any state is read: the nonce is not used.
            w.alice.nonce -= 1;
        }
    }
    // Only the patient or her guardian names them.
    let action = recovery_contacts(&w.alice, &[&w.bob], 1);
    let tx = w.bob.tx(action.clone());
    w.refused(tx, Code::NotPatientOrGuardian);
    let tx = w.alice_guardian.tx(action);
    w.ok(tx);
    assert_eq!(policy(&w).threshold, 1);
    // A change — none, here — waits 14 days; the contacts in force still
    // recover meanwhile (a thief holding her key cannot remove them at once).
    let tx = w.alice.tx(recovery_contacts(&w.alice, &[], 0));
    let r = w.ok(tx);
    let p = policy(&w);
    assert_eq!(p.contacts, vec![w.bob.addr()]);
    assert!(p.next_contacts.is_empty());
    assert_eq!(
        event_attr(&r, "recovery_contacts_set", "from"),
        Some(p.next_from.to_string())
    );
    assert!(p.next_from >= w.now() + 13 * DAY);
    let phone = actor("alice's phone after the loss");
    let tx = w.bob.tx(approve_recovery(&w.alice, &phone.key));
    w.ok(tx);
    // Once in force, nobody recovers her key.
    w.node.advance_time(15 * DAY);
    let tx = w
        .bob
        .tx(approve_recovery(&w.alice, &actor("another phone").key));
    w.refused(tx, Code::NoRecoveryContacts);
}

#[test]
fn a_recovery_keeps_a_guardian_only_if_the_guardian_vouched_and_stale_approvals_lapse() {
    let mut w = World::new();
    let tx = w
        .alice
        .tx(recovery_contacts(&w.alice, &[&w.bob, &w.nurse], 1));
    w.ok(tx);
    // An approval left 15 days ago counts no more.
    let phone = actor("alice's phone after the loss");
    let tx = w.bob.tx(approve_recovery(&w.alice, &phone.key));
    w.ok(tx);
    w.node.advance_time(15 * DAY);
    let tx = w.admin.tx(approve_recovery(&w.alice, &phone.key));
    w.ok(tx);
    let pending = policy(&w).pending.expect("a fresh recovery");
    assert!(pending.approvals.is_empty(), "a lapsed approval counted");
    // Her guardian (named with the lost key) did not vouch: cleared.
    let tx = w.nurse.tx(approve_recovery(&w.alice, &phone.key));
    let r = w.ok(tx);
    assert!(event_attr(&r, "key_recovered", "patient").is_some());
    assert!(event_attr(&r, "guardian_set", "patient").is_some());
    let me: Participant = w.query(&format!("/participant/{}", w.alice.address()));
    assert!(me.guardian_public_key.is_empty());
    // A proof made for a recovery does not rotate a key.
    let proof_for_recovery = approve_recovery(&w.bob, &actor("bob's new phone").key);
    let Kind::ApproveRecovery(a) = proof_for_recovery else {
        unreachable!()
    };
    let tx = w.bob.tx(Kind::RotateKey(RotateKey {
        new_public_key: a.new_public_key,
        new_key_proof: a.new_key_proof,
        participant: vec![],
    }));
    w.refused(tx, Code::InvalidField);
}
