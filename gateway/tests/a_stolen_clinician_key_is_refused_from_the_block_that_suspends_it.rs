//! A clinician's laptop is stolen: his hospital's admin suspends the key. The
//! gateway refuses it from the block after the suspension (the newest state
//! a header proves), with the reason; ingest wraps nothing more for it; and
//! the same admin replaces the key (`rotate_key` naming the doctor) and
//! reinstates him: the thief's key stays dead, and his new key reads under
//! the grant she gave him — grants follow the person, not the key.

use std::time::Duration;

use ehr_ledger::ledger::actions::rotation::{prove_binding, Binding};
use ehr_ledger::proto::{action::Kind, ReinstateParticipant, RotateKey, SuspendParticipant};
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
        "SELECT count(*) FROM ingest.stored_records r JOIN ingest.wrapped_keys w
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

    // His admin replaces the stolen key and reinstates him: the thief's key
    // stays dead, and his new key reads under the grant she gave him.
    let new_key = key("doctor's new laptop");
    s.node.send(
        &s.cast.admin,
        Kind::RotateKey(RotateKey {
            new_public_key: pk(&new_key),
            new_key_proof: prove_binding(&new_key, Binding::Rotation, &doctor),
            participant: doctor.0.to_vec(),
        }),
    );
    s.node.send(
        &s.cast.admin,
        Kind::Reinstate(ReinstateParticipant {
            address: doctor.0.to_vec(),
        }),
    );
    let vitals = ehr_client::read_path::client::RecordsQuery::category("vitals");
    let reads = wait_until(Duration::from_secs(15), || {
        s.block_on(s.client(&new_key).records(&s.cast.alice.address(), &vitals))
            .is_ok()
    });
    assert!(reads, "his new key does not read under his grant");
    let (code, sentence) = s.doctor_reads_alice().unwrap_err();
    assert_eq!(code, "key_replaced", "{sentence}");
    // A reading stored now is wrapped for his new key, none for the stolen one.
    let later = s.alice_heart_rates(1);
    let page = s
        .block_on(s.client(&new_key).records(&s.cast.alice.address(), &vitals))
        .unwrap();
    let item = page
        .records
        .iter()
        .find(|r| r.record_id == later[0])
        .expect("the new reading is served");
    assert!(ehr_client::read_path::open::decrypt(item, &new_key).is_ok());
}
