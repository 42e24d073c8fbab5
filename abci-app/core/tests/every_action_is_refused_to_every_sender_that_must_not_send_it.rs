//! The authorization matrix: for every action, every sender that may not send
//! it is refused with the code that says why, and then a sender that may send
//! it succeeds with the very same action, so the refusals were about the sender.

use ehr_ledger::mock_consensus::Actor;
use ehr_ledger::proto::{action::Kind, governance_change, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Doctor,
    Nurse,
    Pharmacist,
    LabTech,
    Admin,
    Ingest,
    Gateway,
    Patient,
    Guardian,
    OtherPatient,
    Stranger,
}

const EVERYONE: [Who; 11] = [
    Who::Doctor,
    Who::Nurse,
    Who::Pharmacist,
    Who::LabTech,
    Who::Admin,
    Who::Ingest,
    Who::Gateway,
    Who::Patient,
    Who::Guardian,
    Who::OtherPatient,
    Who::Stranger,
];

/// How an action decides who may send it.
#[derive(Clone, Copy)]
enum Gate {
    /// A staff role or service kind: unregistered keys are NotRegistered, the rest WrongRole.
    Role,
    /// Only the patient or guardian.
    PatientOnly,
    /// The patient, the guardian, or some registered role.
    PatientOrRole,
    /// The patient, the guardian, or a clinician with write access.
    PatientOrWriter,
    /// Only a key not yet registered.
    Unregistered,
}

fn expected(gate: Gate, who: Who) -> Code {
    use Who::*;
    match gate {
        Gate::Unregistered => Code::AlreadyRegistered,
        Gate::PatientOnly => Code::NotPatientOrGuardian,
        Gate::Role | Gate::PatientOrRole => match who {
            Stranger | Guardian => Code::NotRegistered,
            _ => Code::WrongRole,
        },
        Gate::PatientOrWriter => match who {
            Stranger => Code::NotRegistered,
            OtherPatient => Code::NotPatientOrGuardian,
            Nurse | Pharmacist | LabTech => Code::NoAccess,
            _ => Code::WrongRole,
        },
    }
}

fn actor_of(w: &mut World, who: Who) -> &mut Actor {
    match who {
        Who::Doctor => &mut w.doctor,
        Who::Nurse => &mut w.nurse,
        Who::Pharmacist => &mut w.pharmacist,
        Who::LabTech => &mut w.lab_tech,
        Who::Admin => &mut w.admin,
        Who::Ingest => &mut w.ingest,
        Who::Gateway => &mut w.gateway,
        Who::Patient => &mut w.alice,
        Who::Guardian => &mut w.alice_guardian,
        Who::OtherPatient => &mut w.bob,
        Who::Stranger => &mut w.stranger,
    }
}

struct Row {
    name: &'static str,
    action: Kind,
    gate: Gate,
    allowed: &'static [Who],
}

#[test]
fn every_action_refuses_every_sender_that_must_not_send_it() {
    let mut w = World::new();
    // What the allowed senders need: a doctor with write access, an open
    // proposal, a suspended spare, a bound device, a nurse's grant to revoke.
    let g = w.grant(
        w.doctor.addr(),
        &[Category::All],
        AccessLevel::Write,
        w.now() + 30 * DAY,
    );
    w.ok(g);
    let g = w.grant(
        w.nurse.addr(),
        &[Category::Imaging],
        AccessLevel::Read,
        w.now() + 30 * DAY,
    );
    w.ok(g);
    let tx = w
        .north_admin
        .tx(propose(governance_change::Kind::RemoveMember(
            RemoveMember {
                org_id: "east".into(),
            },
        )));
    w.ok(tx);
    let spare = actor("spare@general");
    let tx = w.admin.tx(register_staff(spare.public_key(), Role::Nurse));
    w.ok(tx);
    let tx = w.admin.tx(Kind::Suspend(SuspendParticipant {
        address: spare.addr(),
    }));
    w.ok(tx);
    let other_spare = actor("other-spare@general");
    let tx = w
        .admin
        .tx(register_staff(other_spare.public_key(), Role::Nurse));
    w.ok(tx);
    // Enrolled, so that registering is theirs to do (last row).
    for key in [w.stranger.public_key(), w.alice_guardian.public_key()] {
        let tx = w.admin.tx(enroll(key));
        w.ok(tx);
    }
    let device = actor("device");
    let tx = w.alice.tx(bind_device("dev-1", &device, &w.alice));
    w.ok(tx);
    let tx = w.doctor.tx(order_lab(&w.alice, "general"));
    w.ok(tx);
    let tx = w.doctor.tx(prescribe(&w.alice, 0, w.now() + 30 * DAY));
    w.ok(tx);
    let newcomer = actor("newcomer");

    use Who::*;
    let rows = vec![
        Row {
            name: "propose",
            action: propose(governance_change::Kind::RemoveMember(RemoveMember {
                org_id: "south".into(),
            })),
            gate: Gate::Role,
            allowed: &[Admin],
        },
        Row {
            name: "vote",
            action: vote(1, false),
            gate: Gate::Role,
            allowed: &[Admin],
        },
        Row {
            name: "register_staff",
            action: register_staff(newcomer.public_key(), Role::Nurse),
            gate: Gate::Role,
            allowed: &[Admin],
        },
        Row {
            name: "register_service",
            action: register_service(actor("svc").public_key(), ServiceKind::Gateway),
            gate: Gate::Role,
            allowed: &[Admin],
        },
        Row {
            name: "suspend",
            action: Kind::Suspend(SuspendParticipant {
                address: other_spare.addr(),
            }),
            gate: Gate::Role,
            allowed: &[Admin],
        },
        Row {
            name: "reinstate",
            action: Kind::Reinstate(ReinstateParticipant {
                address: spare.addr(),
            }),
            gate: Gate::Role,
            allowed: &[Admin],
        },
        Row {
            name: "set_guardian",
            action: Kind::SetGuardian(SetGuardian {
                patient: w.alice.addr(),
                guardian_public_key: w.alice_guardian.public_key(),
            }),
            gate: Gate::PatientOnly,
            allowed: &[Patient, Guardian],
        },
        Row {
            name: "bind_device",
            action: bind_device("dev-2", &device, &w.alice),
            gate: Gate::PatientOrRole,
            allowed: &[Patient, Guardian, Admin],
        },
        Row {
            name: "revoke_device",
            action: Kind::RevokeDevice(RevokeDevice {
                device_id: "dev-1".into(),
            }),
            gate: Gate::PatientOrRole,
            allowed: &[Patient, Guardian, Admin],
        },
        Row {
            name: "grant_access",
            action: grant_to_clinician(
                &w.alice,
                w.pharmacist.addr(),
                &[Category::Medications],
                AccessLevel::Read,
                w.now() + DAY,
            ),
            gate: Gate::PatientOnly,
            allowed: &[Patient, Guardian],
        },
        Row {
            name: "revoke_access",
            action: Kind::RevokeAccess(RevokeAccess {
                patient: w.alice.addr(),
                grantee: clinician(w.nurse.addr()),
                categories: vec![],
            }),
            gate: Gate::PatientOnly,
            allowed: &[Patient, Guardian],
        },
        Row {
            name: "set_research_consent",
            action: Kind::SetResearchConsent(SetResearchConsent {
                patient: w.alice.addr(),
                consent: true,
            }),
            gate: Gate::PatientOnly,
            allowed: &[Patient, Guardian],
        },
        Row {
            name: "open_emergency_access",
            action: emergency(&w.bob),
            gate: Gate::Role,
            allowed: &[Doctor],
        },
        Row {
            name: "order_lab_test",
            action: order_lab(&w.alice, "general"),
            gate: Gate::Role,
            allowed: &[Doctor],
        },
        Row {
            name: "post_lab_result",
            action: Kind::PostLabResult(PostLabResult {
                order_id: 1,
                record: Some(record("lab-1", &w.alice, Category::Labs)),
            }),
            gate: Gate::Role,
            allowed: &[LabTech],
        },
        Row {
            name: "prescribe",
            action: prescribe(&w.alice, 1, w.now() + DAY),
            gate: Gate::Role,
            allowed: &[Doctor],
        },
        Row {
            name: "dispense",
            action: Kind::Dispense(Dispense { prescription_id: 1 }),
            gate: Gate::Role,
            allowed: &[Pharmacist],
        },
        Row {
            name: "anchor_record",
            action: anchor("note-1", &w.alice, Category::Notes),
            gate: Gate::PatientOrWriter,
            allowed: &[Patient, Guardian, Doctor],
        },
        Row {
            name: "anchor_batch",
            action: Kind::AnchorBatch(AnchorBatch {
                batch_id: 1,
                merkle_root: vec![3; 32],
                record_count: 2,
                first_record: 1,
                last_record: 2,
            }),
            gate: Gate::Role,
            allowed: &[Ingest],
        },
        Row {
            name: "log_disclosures",
            action: Kind::LogDisclosures(LogDisclosures {
                disclosures: vec![disclosure(&w.gateway, &w.doctor, &w.alice, Category::Labs)],
            }),
            gate: Gate::Role,
            allowed: &[Gateway],
        },
        Row {
            name: "set_recovery_contacts",
            action: Kind::SetRecoveryContacts(SetRecoveryContacts {
                patient: w.alice.addr(),
                contacts: vec![w.bob.addr()],
                threshold: 1,
            }),
            gate: Gate::PatientOnly,
            allowed: &[Patient, Guardian],
        },
        Row {
            name: "enroll_patient",
            action: enroll(actor("enrollee").public_key()),
            gate: Gate::Role,
            allowed: &[Admin],
        },
        // Last: it registers the stranger, who must stay unregistered until here.
        Row {
            name: "register_patient",
            action: Kind::RegisterPatient(RegisterPatient::default()),
            gate: Gate::Unregistered,
            allowed: &[Stranger, Guardian],
        },
    ];
    // Every action of the ledger is in the matrix.
    assert_eq!(rows.len(), 23);

    let mut refusals = 0;
    for row in &rows {
        let senders: Vec<Who> = EVERYONE
            .iter()
            .copied()
            .filter(|w| !row.allowed.contains(w))
            .collect();
        let txs: Vec<Vec<u8>> = senders
            .iter()
            .map(|who| actor_of(&mut w, *who).tx(row.action.clone()))
            .collect();
        let block = w.node.block(txs).expect("block");
        for (who, result) in senders.iter().zip(&block.tx_results) {
            let want = expected(row.gate, *who);
            assert_eq!(
                result.code, want,
                "{} sent by {who:?}: {}",
                row.name, result.log
            );
            assert!(!result.log.is_empty());
            refusals += 1;
        }
        // The same action from its first allowed sender goes through.
        let tx = actor_of(&mut w, row.allowed[0]).tx(row.action.clone());
        let r = w.node.deliver(tx);
        assert_eq!(
            r.code,
            Code::Ok,
            "{} sent by {:?}: {}",
            row.name,
            row.allowed[0],
            r.log
        );
    }
    assert!(refusals > 150, "{refusals} refusals checked");
}
