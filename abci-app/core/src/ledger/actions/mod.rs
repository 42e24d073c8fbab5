//! One module per family of actions; `dispatch` routes a verified action.

pub mod amendments;
pub mod anchors;
pub mod audit;
pub mod checkpoints;
pub mod clinical;
pub mod consent;
pub mod devices;
pub mod emergency;
pub mod erasure;
pub mod governance;
pub mod organisations;
pub mod patients;
pub mod recovery;
pub mod rotation;

use crate::proto::action::Kind;
use crate::refusal::Refusal;

use super::context::Ctx;

pub fn dispatch(ctx: &mut Ctx, action: &Kind) -> Result<(), Refusal> {
    match action {
        Kind::Propose(a) => governance::propose(ctx, a),
        Kind::Vote(a) => governance::vote(ctx, a),
        Kind::RegisterStaff(a) => organisations::register_staff(ctx, a),
        Kind::RegisterService(a) => organisations::register_service(ctx, a),
        Kind::Suspend(a) => organisations::suspend(ctx, a),
        Kind::Reinstate(a) => organisations::reinstate(ctx, a),
        Kind::RegisterPatient(a) => patients::register(ctx, a),
        Kind::SetGuardian(a) => patients::set_guardian(ctx, a),
        Kind::EnrollPatient(a) => patients::enroll(ctx, a),
        Kind::BindDevice(a) => devices::bind(ctx, a),
        Kind::RevokeDevice(a) => devices::revoke(ctx, a),
        Kind::GrantAccess(a) => consent::grant(ctx, a),
        Kind::RevokeAccess(a) => consent::revoke(ctx, a),
        Kind::SetResearchConsent(a) => consent::research_consent(ctx, a),
        Kind::RequestAccess(a) => consent::request(ctx, a),
        Kind::DeclineAccessRequest(a) => consent::decline(ctx, a),
        Kind::OpenEmergencyAccess(a) => emergency::open(ctx, a),
        Kind::OrderLabTest(a) => clinical::order_lab_test(ctx, a),
        Kind::PostLabResult(a) => clinical::post_lab_result(ctx, a),
        Kind::Prescribe(a) => clinical::prescribe(ctx, a),
        Kind::Dispense(a) => clinical::dispense(ctx, a),
        Kind::AnchorRecord(a) => anchors::record(ctx, a),
        Kind::AnchorBatch(a) => anchors::batch(ctx, a),
        Kind::LogDisclosures(a) => audit::log_disclosures(ctx, a),
        Kind::RotateKey(a) => rotation::rotate(ctx, a),
        Kind::RequestAmendment(a) => amendments::request(ctx, a),
        Kind::AcceptAmendment(a) => amendments::accept(ctx, a),
        Kind::DenyAmendment(a) => amendments::deny(ctx, a),
        Kind::FileDisagreement(a) => amendments::disagree(ctx, a),
        Kind::EraseRecords(a) => erasure::erase(ctx, a),
        Kind::SetLegalHold(a) => erasure::hold(ctx, a),
        Kind::SetRecoveryContacts(a) => recovery::set_contacts(ctx, a),
        Kind::ApproveRecovery(a) => recovery::approve(ctx, a),
        Kind::AttestCheckpoint(a) => checkpoints::attest(ctx, a),
    }
}
