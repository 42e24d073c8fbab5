//! Every read must reach the patient's audit trail. A gateway whose
//! disclosures can no longer reach the chain — its service suspended, or the
//! chain refusing its log for longer than the allowed lag — serves nothing
//! (503 `audit_unavailable`, with the reason), and serves again once it can.

use std::time::Duration;

use ehr_ledger::proto::{action::Kind, ReinstateParticipant, SuspendParticipant};
use ehr_testkit::stack::*;

#[test]
fn a_suspended_gateway_serves_nothing_until_reinstated() {
    let s = Stack::start();
    s.alice_heart_rates(3);
    assert_eq!(s.doctor_reads_alice(), Ok(3));

    let gateway = s.gateway_key.address().0.to_vec();
    s.node.send(
        &s.cast.admin,
        Kind::Suspend(SuspendParticipant {
            address: gateway.clone(),
        }),
    );
    // Within the gateway's few seconds of remembering its standing.
    let refused = wait_until(Duration::from_secs(20), || s.doctor_reads_alice().is_err());
    assert!(refused, "a suspended gateway still serves");
    let (code, message) = s.doctor_reads_alice().unwrap_err();
    assert_eq!(code, "audit_unavailable", "{message}");
    assert!(message.contains("suspended"), "{message}");
    // Nothing was disclosed while it could not be audited.
    let disclosed_before = s.db.count("SELECT count(*) FROM gateway.disclosures");

    s.node.send(
        &s.cast.admin,
        Kind::Reinstate(ReinstateParticipant { address: gateway }),
    );
    assert!(wait_until(Duration::from_secs(20), || s
        .doctor_reads_alice()
        == Ok(3)));
    assert_eq!(
        s.db.count("SELECT count(*) FROM gateway.disclosures"),
        disclosed_before + 1
    );
}

#[test]
fn a_gateway_whose_log_the_chain_refuses_stops_serving() {
    let s = Stack::start_with_audit_lag(3);
    s.alice_heart_rates(2);
    assert_eq!(s.doctor_reads_alice(), Ok(2));
    // A disclosure the chain will never take (a patient it does not know, and
    // no signed request of its reader), as an insider or a bug might leave in
    // the outbox: the log is stuck.
    s.db.client().expect("the test database answers")
        .execute(
            "INSERT INTO gateway.disclosures (accessor, patient, category, purpose, record_ids, disclosed_at)
             VALUES ($1, $2, 1, 1, ARRAY['x:1'], extract(epoch FROM now())::bigint)",
            &[
                &s.cast.doctor.address().to_string(),
                &key("nobody").address().to_string(),
            ],
        )
        .unwrap();
    let refused = wait_until(Duration::from_secs(30), || s.doctor_reads_alice().is_err());
    assert!(refused, "a gateway whose log is stuck still serves");
    let (code, message) = s.doctor_reads_alice().unwrap_err();
    assert_eq!(code, "audit_unavailable", "{message}");
    assert!(
        message.contains("no signed request of its reader"),
        "{message}"
    );
}
