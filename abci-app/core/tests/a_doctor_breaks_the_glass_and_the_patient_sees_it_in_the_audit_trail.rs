//! Emergency access: a doctor opens a patient's records without a grant, for a
//! fixed window, with a reason; it is flagged in the patient's audit trail, as
//! are disclosures made under it. Gateways log every disclosure.

use ehr_ledger::ledger::actions::emergency::EMERGENCY_WINDOW_SECS;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

#[test]
fn emergency_access_opens_records_for_a_fixed_window_and_is_flagged() {
    let mut w = World::new();
    assert!(!w.access(&w.alice, &w.doctor, "labs").allowed);
    let opened_at = w.now();
    let tx = w.doctor.tx(emergency(&w.alice));
    w.ok(tx);
    let d = w.access(&w.alice, &w.doctor, "labs");
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.basis, AccessBasis::Emergency as i32);
    assert_eq!(d.until, opened_at + EMERGENCY_WINDOW_SECS);

    // Disclosures under it are flagged too.
    let log = Kind::LogDisclosures(LogDisclosures {
        disclosures: vec![disclosure(&w.gateway, &w.doctor, &w.alice, Category::Labs)],
    });
    let tx = w.gateway.tx(log);
    w.ok(tx);

    let trail: AuditTrail = w.query(&format!("/audit/{}", w.alice.address()));
    assert_eq!(trail.items.len(), 2);
    let opened = &trail.items[0];
    assert_eq!(opened.kind, AuditKind::EmergencyOpened as i32);
    assert!(opened.emergency);
    assert_eq!(opened.accessor, w.doctor.addr());
    assert_eq!(opened.emergency_reason, EmergencyReason::Unconscious as i32);
    assert!(!opened.justification.is_empty());
    let read = &trail.items[1];
    assert_eq!(read.kind, AuditKind::Disclosure as i32);
    assert!(read.emergency);
    assert_eq!(read.basis, AccessBasis::Emergency as i32);
    assert_eq!(read.logged_by, w.gateway.addr());
    assert!(read.seq > opened.seq);

    // After the window, the access is gone.
    w.node.advance_time(EMERGENCY_WINDOW_SECS);
    w.node.block(vec![]).unwrap();
    assert!(!w.access(&w.alice, &w.doctor, "labs").allowed);
}

#[test]
fn only_doctors_break_the_glass_and_they_must_say_why() {
    let mut w = World::new();
    for signer in [
        &mut w.nurse,
        &mut w.pharmacist,
        &mut w.admin,
        &mut w.gateway,
    ] {
        let tx = signer.tx(emergency(&w.alice));
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::WrongRole, "{}", r.log);
    }
    let tx = w.stranger.tx(emergency(&w.alice));
    w.refused(tx, Code::NotRegistered);
    let silent = Kind::OpenEmergencyAccess(OpenEmergencyAccess {
        patient: w.alice.addr(),
        reason: EmergencyReason::Other as i32,
        justification: String::new(),
    });
    let tx = w.doctor.tx(silent);
    w.refused(tx, Code::InvalidField);
    // A transaction refused before the rules (malformed) does not use its nonce.
    w.doctor.nonce -= 1;
    let tx = w.doctor.tx(emergency(&w.stranger));
    w.refused(tx, Code::UnknownPatient);
}

#[test]
fn the_audit_trail_records_every_disclosure_with_its_basis() {
    let mut w = World::new();
    let g = w.grant(
        w.nurse.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.ok(g);
    let log = Kind::LogDisclosures(LogDisclosures {
        disclosures: vec![
            disclosure(&w.gateway, &w.nurse, &w.alice, Category::Vitals),
            disclosure(&w.gateway, &w.alice, &w.alice, Category::Notes),
            disclosure(&w.gateway, &w.alice_guardian, &w.alice, Category::Labs),
            // No basis: still recorded, and flagged by basis NONE.
            disclosure(&w.gateway, &w.pharmacist, &w.alice, Category::Labs),
        ],
    });
    let tx = w.gateway.tx(log);
    w.ok(tx);
    let trail: AuditTrail = w.query(&format!("/audit/{}", w.alice.address()));
    let bases: Vec<i32> = trail.items.iter().map(|e| e.basis).collect();
    assert_eq!(
        bases,
        vec![
            AccessBasis::Grant as i32,
            AccessBasis::Patient as i32,
            AccessBasis::Guardian as i32,
            AccessBasis::None as i32
        ]
    );
    assert!(trail.items.iter().all(|e| !e.emergency));
    // Paging: from sequence 3 on.
    let tail: AuditTrail = w.query(&format!("/audit/{}/3", w.alice.address()));
    assert_eq!(tail.items.len(), 2);
    // Bob's trail is his own.
    let bob: AuditTrail = w.query(&format!("/audit/{}", w.bob.address()));
    assert!(bob.items.is_empty());
}

#[test]
fn only_a_gateway_logs_disclosures_and_only_of_real_patients() {
    let mut w = World::new();
    let log = Kind::LogDisclosures(LogDisclosures {
        disclosures: vec![disclosure(&w.gateway, &w.nurse, &w.alice, Category::Vitals)],
    });
    for signer in [&mut w.ingest, &mut w.doctor, &mut w.admin, &mut w.alice] {
        let tx = signer.tx(log.clone());
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::WrongRole, "{}", r.log);
    }
    let bad = Kind::LogDisclosures(LogDisclosures {
        disclosures: vec![disclosure(
            &w.gateway,
            &w.nurse,
            &w.stranger,
            Category::Vitals,
        )],
    });
    let tx = w.gateway.tx(bad);
    w.refused(tx, Code::UnknownPatient);
    let empty = Kind::LogDisclosures(LogDisclosures {
        disclosures: vec![],
    });
    let tx = w.gateway.tx(empty);
    w.refused(tx, Code::InvalidField);
    // A refused transaction leaves no entry behind.
    let trail: AuditTrail = w.query(&format!("/audit/{}", w.alice.address()));
    assert!(trail.items.is_empty());
}
