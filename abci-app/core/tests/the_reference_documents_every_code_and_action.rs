//! docs/ledger.md is the reference: it must list every refusal code with its
//! number and every action by name.

use ehr_ledger::proto::action::Kind;
use ehr_ledger::tx::action_name;
use ehr_ledger::Code;

fn reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ledger.md"))
        .expect("docs/ledger.md exists")
}

#[test]
fn every_refusal_code_is_documented_with_its_number() {
    let doc = reference();
    for code in Code::ALL {
        let row = format!("| {} | {} |", *code as u32, code.name());
        assert!(doc.contains(&row), "docs/ledger.md lacks the row {row:?}");
        assert!(!code.describe().is_empty());
        assert_eq!(Code::from_u32(*code as u32), Some(*code));
    }
}

#[test]
fn every_action_is_documented() {
    let doc = reference();
    let all = [
        Kind::Propose(Default::default()),
        Kind::Vote(Default::default()),
        Kind::RegisterStaff(Default::default()),
        Kind::RegisterService(Default::default()),
        Kind::Suspend(Default::default()),
        Kind::Reinstate(Default::default()),
        Kind::RegisterPatient(Default::default()),
        Kind::SetGuardian(Default::default()),
        Kind::EnrollPatient(Default::default()),
        Kind::BindDevice(Default::default()),
        Kind::RevokeDevice(Default::default()),
        Kind::GrantAccess(Default::default()),
        Kind::RevokeAccess(Default::default()),
        Kind::SetResearchConsent(Default::default()),
        Kind::RequestAccess(Default::default()),
        Kind::DeclineAccessRequest(Default::default()),
        Kind::OpenEmergencyAccess(Default::default()),
        Kind::OrderLabTest(Default::default()),
        Kind::PostLabResult(Default::default()),
        Kind::Prescribe(Default::default()),
        Kind::Dispense(Default::default()),
        Kind::AnchorRecord(Default::default()),
        Kind::AnchorBatch(Default::default()),
        Kind::LogDisclosures(Default::default()),
        Kind::RotateKey(Default::default()),
        Kind::SetRecoveryContacts(Default::default()),
        Kind::ApproveRecovery(Default::default()),
        Kind::RequestAmendment(Default::default()),
        Kind::AcceptAmendment(Default::default()),
        Kind::DenyAmendment(Default::default()),
        Kind::FileDisagreement(Default::default()),
        Kind::EraseRecords(Default::default()),
        Kind::SetLegalHold(Default::default()),
        Kind::AttestCheckpoint(Default::default()),
    ];
    for kind in &all {
        let name = action_name(kind);
        assert!(
            doc.contains(&format!("| `{name} ")),
            "docs/ledger.md does not document {name}"
        );
    }
    // Every oneof field of Action is in the list above.
    let action_fields = include_str!("../proto/ehr/v1/tx.proto")
        .split("message Action {")
        .nth(1)
        .and_then(|s| s.split("\n}").next())
        .unwrap()
        .lines()
        .filter(|l| l.trim_end().ends_with(';') && l.contains('='))
        .count();
    assert_eq!(action_fields, all.len());
}
