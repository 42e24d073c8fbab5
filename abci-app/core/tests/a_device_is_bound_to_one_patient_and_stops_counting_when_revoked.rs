//! Patients register themselves (optionally with a guardian); devices are bound
//! to one patient by that patient, the guardian, or an admin of a hospital the
//! patient trusts with their vitals.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

#[test]
fn a_patient_registers_once_and_may_change_their_guardian() {
    let mut w = World::new();
    let tx = w
        .alice
        .tx(Kind::RegisterPatient(RegisterPatient::default()));
    w.refused(tx, Code::AlreadyRegistered);
    let tx = w
        .doctor
        .tx(Kind::RegisterPatient(RegisterPatient::default()));
    w.refused(tx, Code::AlreadyRegistered);
    let mut carol = actor("carol");
    let tx = w.admin.tx(enroll(carol.public_key()));
    w.ok(tx);
    let tx = carol.tx(Kind::RegisterPatient(RegisterPatient {
        guardian_public_key: carol.public_key(),
    }));
    w.refused(tx, Code::SelfAction);
    let tx = carol.tx(Kind::RegisterPatient(RegisterPatient::default()));
    w.ok(tx);
    let p: Participant = w.query(&format!("/participant/{}", carol.address()));
    assert_eq!(p.kind, ParticipantKind::Patient as i32);

    let new_guardian = actor("alice's aunt");
    let change = Kind::SetGuardian(SetGuardian {
        patient: w.alice.addr(),
        guardian_public_key: new_guardian.public_key(),
    });
    let tx = w.bob.tx(change.clone());
    w.refused(tx, Code::NotPatientOrGuardian);
    let tx = w.alice.tx(change);
    w.ok(tx);
    // The former guardian no longer acts for Alice.
    let g = grant_to_clinician(
        &w.alice,
        w.nurse.addr(),
        &[Category::Vitals],
        AccessLevel::Read,
        w.now() + DAY,
    );
    let tx = w.alice_guardian.tx(g);
    w.refused(tx, Code::NotPatientOrGuardian);
    assert_eq!(
        w.access(&w.alice, &new_guardian, "vitals").basis,
        AccessBasis::Guardian as i32
    );
}

#[test]
fn devices_are_bound_by_the_patient_guardian_or_an_admin_and_revoked() {
    let mut w = World::new();
    let (hr, spo2, glucose) = (
        actor("device hr"),
        actor("device spo2"),
        actor("device glucose"),
    );
    let tx = w.alice.tx(bind_device("hr-0001", &hr, &w.alice));
    w.ok(tx);
    let tx = w
        .alice_guardian
        .tx(bind_device("spo2-0001", &spo2, &w.alice));
    w.ok(tx);
    let tx = w.bob.tx(Kind::GrantAccess(GrantAccess {
        patient: w.bob.addr(),
        grantee: organisation("north"),
        categories: vec![Category::Vitals as i32],
        access: AccessLevel::Write as i32,
        expires_at: w.now() + DAY,
    }));
    w.ok(tx);
    let tx = w.north_admin.tx(bind_device("glu-0001", &glucose, &w.bob));
    w.ok(tx);
    let devices: DeviceList = w.query(&format!("/devices/{}", w.alice.address()));
    assert_eq!(devices.items.len(), 2);
    let d: Device = w.query("/device/hr-0001");
    assert_eq!(d.patient, w.alice.addr());
    assert_eq!(d.status, DeviceStatus::Active as i32);

    // A device id is bound once, to one patient.
    let tx = w.bob.tx(bind_device("hr-0001", &hr, &w.bob));
    w.refused(tx, Code::DeviceExists);
    // Others may not bind to a patient, nor revoke the patient's devices.
    let tx = w.bob.tx(bind_device("hr-0002", &hr, &w.alice));
    w.refused(tx, Code::WrongRole);
    let tx = w.doctor.tx(bind_device("hr-0003", &hr, &w.alice));
    w.refused(tx, Code::WrongRole);
    let tx = w.stranger.tx(bind_device("hr-0004", &hr, &w.alice));
    w.refused(tx, Code::NotRegistered);
    let tx = w.alice.tx(bind_device("hr-0005", &hr, &w.stranger));
    w.refused(tx, Code::UnknownPatient);
    let revoke = |id: &str| {
        Kind::RevokeDevice(RevokeDevice {
            device_id: id.into(),
        })
    };
    let tx = w.bob.tx(revoke("hr-0001"));
    w.refused(tx, Code::WrongRole);

    let tx = w.alice.tx(revoke("hr-0001"));
    w.ok(tx);
    let d: Device = w.query("/device/hr-0001");
    assert_eq!(d.status, DeviceStatus::Revoked as i32);
    let tx = w.alice_guardian.tx(revoke("hr-0001"));
    w.refused(tx, Code::DeviceRevoked);
    let tx = w.north_admin.tx(revoke("glu-0001"));
    w.ok(tx);
    let tx = w.alice.tx(revoke("nope"));
    w.refused(tx, Code::UnknownDevice);
    // A revoked id is never reused.
    let tx = w.alice.tx(bind_device("hr-0001", &hr, &w.alice));
    w.refused(tx, Code::DeviceExists);
}

#[test]
fn an_admin_acts_only_on_devices_of_patients_who_trust_their_hospital() {
    let mut w = World::new();
    let (rogue_meter, meter) = (actor("device rogue"), actor("device meter"));
    // General's admin binds a device of its own to alice, who never chose
    // General: its readings would verify as hers. Refused.
    let tx = w.admin.tx(bind_device("rogue-1", &rogue_meter, &w.alice));
    let r = w.refused(tx, Code::NoAccess);
    assert!(
        r.log
            .contains("grants general write access to their vitals"),
        "{}",
        r.log
    );
    // Alice binds her own meter; no admin of any member may revoke it.
    let tx = w.alice.tx(bind_device("meter-1", &meter, &w.alice));
    w.ok(tx);
    let revoke = Kind::RevokeDevice(RevokeDevice {
        device_id: "meter-1".into(),
    });
    for admin in [&mut w.admin, &mut w.north_admin, &mut w.east_admin] {
        let tx = admin.tx(revoke.clone());
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::NoAccess, "{}", r.log);
    }
    let d: Device = w.query("/device/meter-1");
    assert_eq!(d.status, DeviceStatus::Active as i32);
    // Once alice trusts General with her vitals, its admin may bind, and the
    // trust ends with the grant.
    let tx = w.alice.tx(Kind::GrantAccess(GrantAccess {
        patient: w.alice.addr(),
        grantee: organisation("general"),
        categories: vec![Category::All as i32],
        access: AccessLevel::Write as i32,
        expires_at: w.now() + DAY,
    }));
    w.ok(tx);
    let tx = w.admin.tx(bind_device("ward-1", &rogue_meter, &w.alice));
    w.ok(tx);
    w.node.advance_time(2 * DAY);
    let tx = w.admin.tx(bind_device("ward-2", &meter, &w.alice));
    w.refused(tx, Code::NoAccess);
    // The hospital that bound a device may still take it back.
    let tx = w.admin.tx(Kind::RevokeDevice(RevokeDevice {
        device_id: "ward-1".into(),
    }));
    w.ok(tx);
}
