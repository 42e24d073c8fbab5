//! A clinician's laptop is stolen: his hospital's admin suspends the key. The
//! gateway refuses it from the block after the suspension (the newest state
//! a header proves), with the reason; ingest wraps nothing more for it; and
//! the doctor's new key, registered by the same admin, is a stranger to her
//! grants until she grants it (grants follow the key, here — rotation that
//! carries them is another story).

use std::time::Duration;

use ehr_ledger::proto::{action::Kind, RegisterStaff, Role, SuspendParticipant};
use ehr_testkit::stack::*;

#[test]
fn a_stolen_clinician_key_is_refused_from_the_block_that_suspends_it() {
    let s = Stack::start();
    s.alice_heart_rates(3);
    let read = s.doctor_reads_alice();
    assert!(matches!(read, Ok(n) if n >= 3), "{read:?}");

    let doctor = s.cast.doctor.address();
    s.node.send(
        &s.cast.admin,
        Kind::Suspend(SuspendParticipant {
            address: doctor.0.to_vec(),
        }),
    );
    // Committed; the header after it proves it to the gateway (a block).
    let refused = wait_until(Duration::from_secs(10), || s.doctor_reads_alice().is_err());
    assert!(refused, "the suspended key still reads");
    let (code, sentence) = s.doctor_reads_alice().unwrap_err();
    assert_eq!(code, "access_denied", "{sentence}");
    assert!(sentence.contains("suspended"), "{sentence}");

    // Readings stored from then on get no key for the stolen one.
    let after = s.alice_heart_rates(3);
    let wrapped = s.db.count(&format!(
        "SELECT count(*) FROM ingest.records r JOIN ingest.wrapped_keys w
           ON w.key_id = r.key_id AND w.reader = '{doctor}'
         WHERE r.record_id IN ({})",
        after
            .iter()
            .map(|id| format!("'{id}'"))
            .collect::<Vec<_>>()
            .join(",")
    ));
    assert_eq!(
        wrapped, 0,
        "a reading after the suspension is wrapped for the stolen key"
    );

    // His new key: registered, and no reader of hers until she grants it.
    let new_key = key("doctor's new laptop");
    s.node.send(
        &s.cast.admin,
        Kind::RegisterStaff(RegisterStaff {
            public_key: pk(&new_key),
            role: Role::Doctor as i32,
        }),
    );
    let e = s
        .block_on(s.client(&new_key).records(
            &s.cast.alice.address(),
            &ehr_client::read_path::client::RecordsQuery::category("vitals"),
        ))
        .expect_err("no grant to the new key");
    assert_eq!(e.code(), Some("access_denied"), "{e}");
}
