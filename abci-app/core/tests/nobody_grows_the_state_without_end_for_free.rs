//! Every validator stores what the chain accepts, for ever. A fresh key must
//! not register as a patient on its own (a member hospital enrolls it first,
//! as its front desk does), and one patient adds a bounded amount: devices,
//! and records anchored one by one per day.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

#[test]
fn a_fresh_key_registers_as_a_patient_only_once_a_member_enrolled_it() {
    let mut w = World::new();
    let mut carol = actor("carol");
    let tx = carol.tx(Kind::RegisterPatient(RegisterPatient::default()));
    let r = w.refused(tx, Code::NotEnrolled);
    assert!(r.log.contains("enroll-patient"), "{}", r.log);
    carol.nonce -= 1; // refused, a key the ledger does not know uses no nonce
                      // Nobody but a member's admin enrolls: not a doctor, not a patient.
    for signer in [&mut w.doctor, &mut w.alice] {
        let tx = signer.tx(enroll(carol.public_key()));
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::WrongRole, "{}", r.log);
    }
    let tx = w.north_admin.tx(enroll(carol.public_key()));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "patient_enrolled", "org_id").as_deref(),
        Some("north")
    );
    // Enrolled twice: harmless, nothing added.
    let tx = w.north_admin.tx(enroll(carol.public_key()));
    let r = w.ok(tx);
    assert_eq!(event_attr(&r, "patient_enrolled", "org_id"), None);
    // Enrolled, she registers.
    let tx = carol.tx(Kind::RegisterPatient(RegisterPatient::default()));
    w.ok(tx);
    let p: Participant = w.query(&format!("/participant/{}", carol.address()));
    assert_eq!(p.kind, ParticipantKind::Patient as i32);
    // A registered key is not enrolled again.
    let tx = w.admin.tx(enroll(carol.public_key()));
    w.refused(tx, Code::AlreadyRegistered);
}

#[test]
fn a_proposer_filling_blocks_with_throw_away_keys_grows_no_state() {
    let mut w = World::new();
    let before: ChainInfo = w.query("/chain");
    // Signed by fresh keys, refused by the rules: a Byzantine proposer puts
    // them in a block (honest nodes' CheckTx would not have).
    let strangers: Vec<_> = (0..50).map(|i| actor(&format!("throw-away-{i}"))).collect();
    let txs: Vec<Vec<u8>> = strangers
        .iter()
        .map(|k| k.tx_with_nonce(1, Kind::RegisterPatient(RegisterPatient::default())))
        .collect();
    let block = w.node.block(txs).unwrap();
    assert!(block.tx_results.iter().all(|r| r.code == Code::NotEnrolled));
    for k in &strangers {
        let account = w.node.query(&format!("/account/{}", k.address()));
        assert!(
            account.value.is_empty(),
            "a throw-away key left an account behind"
        );
    }
    let after: ChainInfo = w.query("/chain");
    assert!(after.block_height > before.block_height);
    // A known key's refused transaction still uses its nonce (no replay).
    let tx = w
        .alice
        .tx(Kind::RegisterPatient(RegisterPatient::default()));
    w.refused(tx, Code::AlreadyRegistered);
    let account: Account = w.query(&format!("/account/{}", w.alice.address()));
    assert_eq!(account.nonce, w.alice.nonce);
}

#[test]
fn a_patient_binds_a_bounded_number_of_devices() {
    let mut w = World::new();
    let device = actor("device");
    for i in 0..64 {
        let tx = w.bob.tx(bind_device(&format!("d-{i}"), &device, &w.bob));
        w.ok(tx);
    }
    let tx = w.bob.tx(bind_device("d-64", &device, &w.bob));
    let r = w.refused(tx, Code::QuotaExceeded);
    assert!(r.log.contains("64 devices"), "{}", r.log);
}

#[test]
fn records_anchored_one_by_one_are_bounded_per_patient_and_day() {
    let mut w = World::new();
    // A thousand anchors in a few blocks: the day's allowance.
    for block in 0..4 {
        let txs: Vec<Vec<u8>> = (0..250)
            .map(|i| {
                w.bob
                    .tx(anchor(&format!("r-{block}-{i}"), &w.bob, Category::Notes))
            })
            .collect();
        let result = w.node.block(txs).expect("block");
        assert!(result.tx_results.iter().all(|r| r.code == Code::Ok));
    }
    let tx = w.bob.tx(anchor("r-over", &w.bob, Category::Notes));
    let r = w.refused(tx, Code::QuotaExceeded);
    assert!(r.log.contains("try again tomorrow"), "{}", r.log);
    // Another patient is not affected; the next day bob may anchor again.
    let tx = w.alice.tx(anchor("a-1", &w.alice, Category::Notes));
    w.ok(tx);
    w.node.advance_time(DAY);
    let tx = w.bob.tx(anchor("r-next-day", &w.bob, Category::Notes));
    w.ok(tx);
}
