//! Determinism of the parallel signature checks: a block's transactions are
//! verified on every core (ProcessProposal, FinalizeBlock), and the verdicts
//! must be those of checking them one after another — the same code for the
//! same index — whatever the number of threads and whichever finishes first.

use std::sync::Mutex;

use ehr_ledger::proto::{action::Kind, SetResearchConsent};
use ehr_ledger::tx::{decode_and_verify, decode_and_verify_all, SignatureCache};
use ehr_testkit::world::*;

/// 300 transactions of 30 senders, one in seven made bad in one of several
/// ways (a signature bit, the chain id, truncation, garbage).
fn mixed_block() -> Vec<Vec<u8>> {
    let mut out = vec![];
    let mut senders: Vec<_> = (0..30)
        .map(|i| ehr_ledger::mock_consensus::Actor::new(&format!("sender {i}"), CHAIN))
        .collect();
    for i in 0..300usize {
        let s = &mut senders[i % 30];
        let action = Kind::SetResearchConsent(SetResearchConsent {
            patient: s.addr(),
            consent: i % 2 == 0,
        });
        let mut tx = s.tx(action);
        match i % 7 {
            1 => {
                // A bit of the signature (the envelope's last bytes).
                let n = tx.len();
                tx[n - 5] ^= 0x01;
            }
            3 => tx.truncate(tx.len() / 2),
            5 => tx = vec![0xff; 40 + i],
            _ => {}
        }
        out.push(tx);
    }
    let other_chain = ehr_ledger::mock_consensus::Actor::new("elsewhere", "another-chain").tx(
        Kind::SetResearchConsent(SetResearchConsent {
            patient: vec![1; 20],
            consent: true,
        }),
    );
    out.insert(150, other_chain);
    out
}

fn codes(results: &[Result<ehr_ledger::tx::VerifiedTx, ehr_ledger::Refusal>]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r {
            Ok(tx) => format!("ok {}", hex::encode(tx.hash)),
            Err(refusal) => format!("{:?}: {}", refusal.code, refusal.message),
        })
        .collect()
}

#[test]
fn the_verdicts_on_every_core_are_those_of_one_at_a_time_in_block_order() {
    let block = mixed_block();
    let one_at_a_time: Vec<_> = block.iter().map(|t| decode_and_verify(t, CHAIN)).collect();
    let expected = codes(&one_at_a_time);
    assert!(expected.iter().any(|c| c.starts_with("ok")));
    assert!(expected.iter().any(|c| c.starts_with("BadSignature")));
    assert!(expected.iter().any(|c| c.starts_with("WrongChainId")));
    assert!(expected.iter().any(|c| c.starts_with("TxMalformed")));
    for threads in [1, 2, 4, 7] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let cache = Mutex::new(SignatureCache::default());
        let parallel = pool.install(|| decode_and_verify_all(&block, CHAIN, &cache));
        assert_eq!(codes(&parallel), expected, "{threads} threads");
        // A second pass finds the good signatures cached and answers the same.
        let again = pool.install(|| decode_and_verify_all(&block, CHAIN, &cache));
        assert_eq!(codes(&again), expected, "{threads} threads, cached");
    }
}

#[test]
fn only_verified_transactions_enter_the_signature_cache() {
    let block = mixed_block();
    let cache = Mutex::new(SignatureCache::default());
    let results = decode_and_verify_all(&block, CHAIN, &cache);
    let good = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(cache.lock().unwrap().len(), good);
    for (tx, r) in block.iter().zip(&results) {
        let hash = ehr_ledger::crypto::sha256(tx);
        assert_eq!(cache.lock().unwrap().contains(&hash), r.is_ok());
    }
}
