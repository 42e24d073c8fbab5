//! A clinician without a grant (or without the keys of older records) asks
//! the patient from his page; the request is on chain for her to see, and
//! closes when she grants him or declines. Guardians find whom they guard.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

fn ask(patient: &ehr_ledger::mock_consensus::Actor, categories: &[Category]) -> Kind {
    Kind::RequestAccess(RequestAccess {
        patient: patient.addr(),
        categories: categories.iter().map(|c| *c as i32).collect(),
    })
}

fn requests(w: &World) -> Vec<AccessRequest> {
    w.query::<AccessRequestList>(&format!("/access-requests/{}", w.alice.address()))
        .items
}

#[test]
fn a_request_stays_open_until_the_patient_grants_it() {
    let mut w = World::new();
    let tx = w.doctor.tx(ask(&w.alice, &[Category::Vitals]));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "access_requested", "requester"),
        Some(w.doctor.address().to_string())
    );
    // Asking again replaces the request: one per clinician and patient.
    let tx = w
        .doctor
        .tx(ask(&w.alice, &[Category::Vitals, Category::Labs]));
    w.ok(tx);
    let open = requests(&w);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].requester, w.doctor.addr());
    assert_eq!(
        open[0].categories,
        [Category::Vitals as i32, Category::Labs as i32]
    );
    // The nurse asks too. A grant of less than he asked leaves his request
    // open; granting what he asked closes it, and hers stays.
    let tx = w.nurse.tx(ask(&w.alice, &[Category::Vitals]));
    w.ok(tx);
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Labs],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.ok(g);
    assert_eq!(requests(&w).len(), 2);
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Vitals, Category::Labs],
        AccessLevel::Read,
        w.now() + DAY,
    );
    let r = w.ok(g);
    assert_eq!(
        event_attr(&r, "access_request_closed", "answer").as_deref(),
        Some("granted")
    );
    let open = requests(&w);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].requester, w.nurse.addr());
}

#[test]
fn the_patient_or_guardian_declines_and_nobody_else_can() {
    let mut w = World::new();
    let tx = w.doctor.tx(ask(&w.alice, &[Category::Vitals]));
    w.ok(tx);
    let decline = Kind::DeclineAccessRequest(DeclineAccessRequest {
        patient: w.alice.addr(),
        requester: w.doctor.addr(),
    });
    for signer in [&mut w.bob, &mut w.doctor, &mut w.admin] {
        let tx = signer.tx(decline.clone());
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::NotPatientOrGuardian, "{}", r.log);
    }
    let tx = w.alice_guardian.tx(decline.clone());
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "access_request_closed", "answer").as_deref(),
        Some("declined")
    );
    assert!(requests(&w).is_empty());
    // Nothing left to decline: the refusal says so.
    let tx = w.alice.tx(decline);
    let r = w.refused(tx, Code::UnknownRequest);
    assert!(r.log.contains("no open request"), "{}", r.log);
}

#[test]
fn only_clinicians_ask_and_only_patients_are_asked() {
    let mut w = World::new();
    for signer in [&mut w.admin, &mut w.ingest, &mut w.bob] {
        let tx = signer.tx(ask(&w.alice, &[Category::Vitals]));
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::WrongRole, "{}", r.log);
    }
    let tx = w.doctor.tx(ask(&w.nurse, &[Category::Vitals]));
    w.refused(tx, Code::UnknownPatient);
    // A suspended clinician asks nobody.
    let tx = w.admin.tx(Kind::Suspend(SuspendParticipant {
        address: w.nurse.addr(),
    }));
    w.ok(tx);
    let tx = w.nurse.tx(ask(&w.alice, &[Category::Vitals]));
    w.refused(tx, Code::Suspended);
    let tx = w.doctor.tx(ask(&w.alice, &[]));
    w.refused(tx, Code::InvalidField);
    assert!(requests(&w).is_empty());
}

#[test]
fn a_guardian_finds_the_patients_they_guard() {
    let mut w = World::new();
    let guarded: ParticipantList = w.query(&format!("/guarding/{}", w.alice_guardian.address()));
    assert_eq!(
        guarded
            .items
            .iter()
            .map(|p| p.address.clone())
            .collect::<Vec<_>>(),
        [w.alice.addr()]
    );
    // A new guardian takes the old one's place in the index.
    let tx = w.alice.tx(Kind::SetGuardian(SetGuardian {
        patient: w.alice.addr(),
        guardian_public_key: w.bob.public_key(),
    }));
    w.ok(tx);
    let old: ParticipantList = w.query(&format!("/guarding/{}", w.alice_guardian.address()));
    assert!(old.items.is_empty());
    let new: ParticipantList = w.query(&format!("/guarding/{}", w.bob.address()));
    assert_eq!(new.items.len(), 1);
}
