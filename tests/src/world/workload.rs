//! A deterministic stream of blocks exercising most actions, accepted and
//! refused: the same blocks every run, in every process.

use ehr_ledger::mock_consensus::{BLOCK_INTERVAL_SECS, GENESIS_TIME};
use ehr_ledger::proto::{action::Kind, *};

use super::*;

/// A block: its time and transactions.
pub type Block = (i64, Vec<Vec<u8>>);

/// `count` blocks to follow the registration block of `World::new()`; `c` is
/// a fresh World used only for its actors (their keys and nonces).
pub fn blocks(c: &mut World, count: usize) -> Vec<Block> {
    let mut out = Vec::with_capacity(count);
    // The registration block was block 1, at GENESIS_TIME + one interval.
    let time = |i: usize| GENESIS_TIME + BLOCK_INTERVAL_SECS * (i as i64 + 1);
    let mut prescriptions = 0u64;
    for i in 1..=count {
        let now = time(i);
        let mut txs = vec![];
        if i == 1 {
            txs.push(c.alice.tx(grant_to_clinician(
                &c.alice,
                c.doctor.addr(),
                &[Category::All],
                AccessLevel::Write,
                now + 365 * DAY,
            )));
        } else if i % 7 == 0 {
            // An empty block now and then.
        } else {
            txs.push(
                c.doctor
                    .tx(anchor(&format!("r-{i}"), &c.alice, Category::Vitals)),
            );
            txs.push(c.bob.tx(anchor(&format!("b-{i}"), &c.bob, Category::Notes)));
            txs.push(c.gateway.tx(Kind::LogDisclosures(LogDisclosures {
                disclosures: vec![disclosure(
                    &c.gateway,
                    &c.doctor,
                    &c.alice,
                    Category::Vitals,
                )],
            })));
            txs.push(c.ingest.tx(Kind::AnchorBatch(AnchorBatch {
                batch_id: i as u64,
                merkle_root: ehr_ledger::crypto::sha256(&i.to_be_bytes()).to_vec(),
                record_count: 10,
                first_record: 10 * i as u64,
                last_record: 10 * i as u64 + 9,
            })));
            // Refused by the rules: still in the block, still uses the nonce.
            txs.push(c.nurse.tx(prescribe(&c.alice, 0, now + DAY)));
            if i % 3 == 0 {
                txs.push(c.doctor.tx(prescribe(&c.alice, 1, now + 30 * DAY)));
                prescriptions += 1;
                txs.push(c.pharmacist.tx(Kind::Dispense(Dispense {
                    prescription_id: prescriptions,
                })));
            }
            if i % 5 == 0 {
                txs.push(c.alice.tx(grant_to_clinician(
                    &c.alice,
                    c.nurse.addr(),
                    &[Category::Vitals],
                    AccessLevel::Read,
                    now + DAY,
                )));
                txs.push(c.doctor.tx(order_lab(&c.alice, "north")));
            }
            // Garbage a faulty proposer might include: refused, never applied.
            txs.push(vec![0xde, 0xad, 0xbe, 0xef]);
        }
        out.push((now, txs));
    }
    out
}

/// Applies `blocks` to `node` (FinalizeBlock + Commit each) and returns the app hash after each.
pub fn apply(node: &mut TestNode, blocks: &[Block]) -> Vec<[u8; 32]> {
    blocks
        .iter()
        .map(|(time, txs)| {
            node.time = *time;
            node.block(txs.clone()).expect("block applies");
            node.app_hash()
        })
        .collect()
}

/// A node that keeps the tree of its last `window` heights only.
pub fn pruning(window: u64) -> ehr_ledger::ledger::LedgerOptions {
    ehr_ledger::ledger::LedgerOptions {
        retention: ehr_ledger::storage::Retention::LastHeights(window),
        ..Default::default()
    }
}

/// Proves every key the node's state holds now at each of `heights`
/// against `app_hash(height)` (panicking with the key and height that do
/// not prove); how many keys there were.
pub fn prove_every_key(
    node: &TestNode,
    heights: impl IntoIterator<Item = u64>,
    app_hash: impl Fn(u64) -> [u8; 32],
) -> usize {
    use ehr_ledger::storage::{verify_proof, StateRead};
    let storage = node.ledger.storage();
    let keys: Vec<Vec<u8>> = storage
        .snapshot()
        .expect("a snapshot of the state")
        .scan_raw(b"", usize::MAX)
        .expect("the state's keys")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for height in heights {
        let root = app_hash(height);
        for key in &keys {
            let (value, proof) = storage
                .get_with_proof(key, height)
                .unwrap_or_else(|e| panic!("height {height}: {e}"));
            verify_proof(root, key, value.as_deref(), &proof)
                .unwrap_or_else(|e| panic!("{} at {height}: {e}", String::from_utf8_lossy(key)));
        }
    }
    keys.len()
}
