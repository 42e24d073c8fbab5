//! CheckTx: a mempool view over the committed state that accepts a sender's
//! consecutive nonces before they are in a block, forgets refused transactions
//! entirely, and after each commit is rebuilt by CometBFT's recheck from what
//! its mempool still holds: what no longer applies is refused with why.

use ehr_ledger::ledger::CheckKind;
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
fn after_a_commit_the_recheck_rebuilds_the_view_on_the_new_state() {
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
    assert_eq!(w.node.ledger.mempool_size(), 2);
    // A block holding only the grant is committed; the view starts again
    // from the new state and CometBFT rechecks what its mempool still holds.
    w.node.block(vec![g]).unwrap();
    assert_eq!(w.node.ledger.mempool_size(), 0);
    assert_eq!(recheck(&w, &rx), Code::Ok);
    // Sent anew it is a replay: the view holds it again.
    assert_eq!(
        w.node.ledger.check_tx(&rx).unwrap().code,
        Code::NonceReplayed
    );
    // The doctor's next transaction fits after it.
    let next = w.doctor.tx(prescribe(&w.alice, 1, w.now() + DAY));
    assert_eq!(w.node.ledger.check_tx(&next).unwrap().code, Code::Ok);
    w.node.block(vec![rx.clone(), next]).unwrap();
    // Once included, a recheck finds it already applied.
    assert_eq!(recheck(&w, &rx), Code::NonceReplayed);
}

#[test]
fn a_transaction_cometbft_dropped_does_not_stay_in_the_view() {
    let mut w = World::new();
    let (a, b) = (consent(&w, true), consent(&w, false));
    let first = w.alice.tx(a);
    let second = w.alice.tx(b);
    assert_eq!(w.node.ledger.check_tx(&first).unwrap().code, Code::Ok);
    assert_eq!(w.node.ledger.check_tx(&second).unwrap().code, Code::Ok);
    // CometBFT's mempool was full: it dropped `first` after CheckTx accepted
    // it, so after the next block only `second` is rechecked. Without its
    // predecessor it no longer applies, and the recheck says so (CometBFT
    // then evicts it instead of proposing it for ever).
    w.node.block(vec![]).unwrap();
    let r = w
        .node
        .ledger
        .check_tx_of_kind(&second, CheckKind::Recheck)
        .unwrap();
    assert_eq!(r.code, Code::NonceSkipped, "{}", r.log);
    // `first` sent again fits, and `second` after it.
    assert_eq!(w.node.ledger.check_tx(&first).unwrap().code, Code::Ok);
    assert_eq!(recheck(&w, &second), Code::Ok);
}

#[test]
fn a_transaction_that_stops_applying_after_a_block_is_refused_at_recheck_with_why() {
    let mut w = World::new();
    let (a, b) = (consent(&w, true), consent(&w, false));
    // Two transactions with the same nonce, as two hospitals' mempools may
    // hold: this node accepted the first, the block carries the second.
    let here = w.alice.tx_with_nonce(2, a);
    let elsewhere = w.alice.tx_with_nonce(2, b);
    assert_eq!(w.node.ledger.check_tx(&here).unwrap().code, Code::Ok);
    let block = w.node.block(vec![elsewhere]).unwrap();
    assert_eq!(block.tx_results[0].code, Code::Ok);
    let r = w
        .node
        .ledger
        .check_tx_of_kind(&here, CheckKind::Recheck)
        .unwrap();
    assert_eq!(r.code, Code::NonceReplayed);
    assert!(r.log.contains("nonce 2 was already used"), "{}", r.log);
}

fn recheck(w: &World, tx: &[u8]) -> Code {
    w.node
        .ledger
        .check_tx_of_kind(tx, CheckKind::Recheck)
        .unwrap()
        .code
}

fn consent(w: &World, on: bool) -> Kind {
    Kind::SetResearchConsent(SetResearchConsent {
        patient: w.alice.addr(),
        consent: on,
    })
}
