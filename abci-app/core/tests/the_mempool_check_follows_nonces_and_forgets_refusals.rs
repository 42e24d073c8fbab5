//! CheckTx: a mempool view over the committed state that accepts a sender's
//! consecutive nonces before they are in a block, forgets refused transactions
//! entirely, and starts afresh at each commit (CometBFT then rechecks).

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

#[test]
fn consecutive_transactions_of_one_sender_pass_check_before_any_block() {
    let mut w = World::new();
    let consent = |on| {
        Kind::SetResearchConsent(SetResearchConsent {
            patient: w.alice.addr(),
            consent: on,
        })
    };
    let (a, b, c) = (consent(true), consent(false), consent(true));
    let t1 = w.alice.tx(a);
    let t2 = w.alice.tx(b);
    let t3 = w.alice.tx(c);
    assert_eq!(w.node.ledger.check_tx(&t1).unwrap().code, Code::Ok);
    assert_eq!(w.node.ledger.check_tx(&t2).unwrap().code, Code::Ok);
    // The same transaction twice in the mempool is a replay.
    assert_eq!(
        w.node.ledger.check_tx(&t2).unwrap().code,
        Code::NonceReplayed
    );
    assert_eq!(w.node.ledger.check_tx(&t3).unwrap().code, Code::Ok);
    // Nothing is committed by CheckTx.
    let account: Account = w.query(&format!("/account/{}", w.alice.address()));
    assert_eq!(account.nonce, 1);
    let block = w.node.block(vec![t1, t2, t3]).unwrap();
    assert!(block.tx_results.iter().all(|r| r.code == Code::Ok));
}

#[test]
fn a_transaction_refused_by_check_leaves_its_nonce_free() {
    let mut w = World::new();
    let refused = w.doctor.tx(prescribe(&w.alice, 0, w.now() + DAY));
    let r = w.node.ledger.check_tx(&refused).unwrap();
    assert_eq!(r.code, Code::NoAccess);
    assert!(r.log.contains("no current write grant"), "{}", r.log);
    // The doctor's next transaction reuses that nonce and is accepted.
    w.doctor.nonce -= 1;
    let emergency_tx = w.doctor.tx(emergency(&w.alice));
    assert_eq!(
        w.node.ledger.check_tx(&emergency_tx).unwrap().code,
        Code::Ok
    );
}

#[test]
fn after_a_commit_the_mempool_rechecks_against_the_new_state() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Medications],
        AccessLevel::Write,
        w.now() + DAY,
    );
    let rx = w.doctor.tx(prescribe(&w.alice, 0, w.now() + DAY));
    assert_eq!(w.node.ledger.check_tx(&g).unwrap().code, Code::Ok);
    // The grant is in the mempool view, so the prescription checks out too.
    assert_eq!(w.node.ledger.check_tx(&rx).unwrap().code, Code::Ok);
    // A block holding only the grant is committed; the prescription is rechecked.
    w.node.block(vec![g]).unwrap();
    assert_eq!(w.node.ledger.check_tx(&rx).unwrap().code, Code::Ok);
    w.node.block(vec![rx.clone()]).unwrap();
    // Once included, a recheck finds it already applied.
    assert_eq!(
        w.node.ledger.check_tx(&rx).unwrap().code,
        Code::NonceReplayed
    );
}
