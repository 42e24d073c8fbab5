//! An organisation's admin registers staff with a role and services with a
//! kind, and suspends or reinstates them; a suspended participant acts no more.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

fn suspend(p: &ehr_ledger::mock_consensus::Actor) -> Kind {
    Kind::Suspend(SuspendParticipant { address: p.addr() })
}

fn reinstate(p: &ehr_ledger::mock_consensus::Actor) -> Kind {
    Kind::Reinstate(ReinstateParticipant { address: p.addr() })
}

#[test]
fn registered_staff_carry_their_role_and_organisation() {
    let w = World::new();
    let doctor: Participant = w.query(&format!("/participant/{}", w.doctor.address()));
    assert_eq!(doctor.role, Role::Doctor as i32);
    assert_eq!(doctor.org_id, "general");
    assert_eq!(doctor.status, ParticipantStatus::Active as i32);
    let gateway: Participant = w.query(&format!("/participant/{}", w.gateway.address()));
    assert_eq!(gateway.kind, ParticipantKind::Service as i32);
    assert_eq!(gateway.service_kind, ServiceKind::Gateway as i32);
    let staff: ParticipantList = w.query("/staff/general");
    assert_eq!(staff.items.len(), 7, "admin, four clinicians, two services");
}

#[test]
fn a_suspended_doctor_cannot_act_until_reinstated() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::All],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.admin.tx(suspend(&w.doctor));
    w.ok(tx);
    let tx = w.doctor.tx(prescribe(&w.alice, 0, w.now() + DAY));
    w.refused(tx, Code::Suspended);
    let d = w.access(&w.alice, &w.doctor, "vitals");
    assert!(!d.allowed, "a suspended clinician reads nothing");
    let tx = w.admin.tx(suspend(&w.doctor));
    w.refused(tx, Code::StatusUnchanged);
    let tx = w.admin.tx(reinstate(&w.doctor));
    w.ok(tx);
    let tx = w.doctor.tx(prescribe(&w.alice, 0, w.now() + DAY));
    w.ok(tx);
}

#[test]
fn admins_manage_only_their_own_organisation() {
    let mut w = World::new();
    let tx = w.north_admin.tx(suspend(&w.doctor));
    w.refused(tx, Code::WrongOrganisation);
    let tx = w.admin.tx(suspend(&w.alice));
    w.refused(tx, Code::WrongOrganisation);
    let tx = w.admin.tx(suspend(&w.stranger));
    w.refused(tx, Code::UnknownParticipant);
    let tx = w.admin.tx(suspend(&w.admin));
    w.refused(tx, Code::SelfAction);
    // Only admins register; a key is registered once.
    let tx = w
        .doctor
        .tx(register_staff(w.stranger.public_key(), Role::Nurse));
    w.refused(tx, Code::WrongRole);
    let tx = w
        .admin
        .tx(register_staff(w.nurse.public_key(), Role::Doctor));
    w.refused(tx, Code::AlreadyRegistered);
    let tx = w
        .admin
        .tx(register_staff(w.alice.public_key(), Role::Nurse));
    w.refused(tx, Code::AlreadyRegistered);
    let tx = w
        .admin
        .tx(register_staff(w.stranger.public_key(), Role::Unspecified));
    w.refused(tx, Code::InvalidField);
}

#[test]
fn a_second_admin_can_manage_staff_and_a_suspended_service_stops_anchoring() {
    let mut w = World::new();
    let mut deputy = actor("deputy-admin@general");
    let tx = w.admin.tx(register_staff(deputy.public_key(), Role::Admin));
    w.ok(tx);
    let tx = deputy.tx(suspend(&w.ingest));
    w.ok(tx);
    let batch = Kind::AnchorBatch(AnchorBatch {
        batch_id: 1,
        merkle_root: vec![1; 32],
        record_count: 1,
        first_record: 1,
        last_record: 1,
    });
    let tx = w.ingest.tx(batch);
    w.refused(tx, Code::Suspended);
}
