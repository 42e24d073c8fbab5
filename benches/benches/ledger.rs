//! Transaction checking (decode + verify) and block application.
//!
//! cargo bench -p ehr-benches --bench ledger
//!
//! The block is a clinical mix from many signers: patients anchoring their own
//! records and a gateway logging disclosures, on a chain of four hospitals.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ehr_ledger::crypto::sha256;
use ehr_ledger::ledger::Ledger;
use ehr_ledger::mock_consensus::{consortium_genesis, Actor, TestNode};
use ehr_ledger::proto::{action::Kind, *};
use std::sync::Mutex;

use ehr_ledger::tx::{decode_and_verify, decode_and_verify_all, SignatureCache};
use tempfile::TempDir;

const CHAIN: &str = "ehr-bench";
const PATIENTS: usize = 200;

struct Chain {
    dir: TempDir,
    patients: Vec<Actor>,
    gateway: Actor,
    time: i64,
    height: u64,
}

fn actor(seed: &str) -> Actor {
    Actor::new(seed, CHAIN)
}

/// Genesis, then staff, a gateway and `PATIENTS` registered patients.
fn chain() -> Chain {
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::init(
        &dir.path().join("ledger.redb"),
        CHAIN,
        &consortium_genesis(&["general", "north", "south", "east"]),
    )
    .unwrap();
    let mut admin = actor("admin@general");
    let gateway = actor("gateway@general");
    let patients: Vec<Actor> = (0..PATIENTS)
        .map(|i| actor(&format!("patient {i}")))
        .collect();
    let mut txs = vec![admin.tx(Kind::RegisterService(RegisterService {
        public_key: gateway.public_key(),
        kind: ServiceKind::Gateway as i32,
    }))];
    txs.push(admin.tx(Kind::EnrollPatient(EnrollPatient {
        public_keys: patients.iter().map(|p| p.public_key()).collect(),
    })));
    let mut patients = patients;
    for p in &mut patients {
        txs.push(p.tx(Kind::RegisterPatient(RegisterPatient::default())));
    }
    let result = node.block(txs).unwrap();
    assert!(result.tx_results.iter().all(|r| r.is_ok()));
    let (time, height) = (node.time, node.height());
    drop(node);
    Chain {
        dir,
        patients,
        gateway,
        time,
        height,
    }
}

/// `n` transactions: patients anchoring records, and a gateway logging disclosures.
fn block_txs(c: &mut Chain, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            if i % 4 == 3 {
                let p = &c.patients[i % PATIENTS];
                // The patient's own signed request behind it, as a gateway logs it.
                let d = Disclosure {
                    record_ids: vec![format!("rec-{i}")],
                    ..ehr_testkit::actions::disclosure(&c.gateway, p, p, Category::Vitals)
                };
                c.gateway.tx(Kind::LogDisclosures(LogDisclosures {
                    disclosures: vec![d],
                }))
            } else {
                let p = &mut c.patients[i % PATIENTS];
                let record = RecordRef {
                    record_id: format!("rec-{i}"),
                    patient: p.addr(),
                    category: Category::Vitals as i32,
                    ciphertext_sha256: sha256(&i.to_be_bytes()).to_vec(),
                    size: 256,
                    locator: format!("pg://records/{i}"),
                };
                p.tx(Kind::AnchorRecord(AnchorRecord {
                    record: Some(record),
                }))
            }
        })
        .collect()
}

fn copy_of(c: &Chain) -> (TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        c.dir.path().join("ledger.redb"),
        dir.path().join("ledger.redb"),
    )
    .unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.redb")).unwrap();
    (dir, ledger)
}

fn check(c: &mut Criterion) {
    let mut chain = chain();
    let tx = block_txs(&mut chain, 1).remove(0);
    c.bench_function("check/decode_and_verify", |b| {
        b.iter(|| decode_and_verify(&tx, CHAIN).unwrap())
    });
    // The verification bound of the machine's cores: a block's transactions
    // decoded and verified on all of them, nothing cached.
    let txs = block_txs(&mut chain, 1000);
    let mut group = c.benchmark_group("check");
    group.throughput(Throughput::Elements(txs.len() as u64));
    group.sample_size(20);
    group.bench_function("decode_and_verify_on_every_core/1000", |b| {
        b.iter(|| {
            let cache = Mutex::new(SignatureCache::default());
            let r = decode_and_verify_all(&txs, CHAIN, &cache);
            assert!(r.iter().all(Result::is_ok));
        })
    });
    group.finish();
}

fn apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("block");
    group.sample_size(10);
    for n in [100usize, 1000] {
        let mut chain = chain();
        let txs = block_txs(&mut chain, n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("finalize", n), &txs, |b, txs| {
            let (_dir, ledger) = copy_of(&chain);
            b.iter(|| {
                let r = ledger
                    .finalize_block(chain.height + 1, chain.time, txs)
                    .unwrap();
                assert!(r.tx_results.iter().all(|t| t.is_ok()));
            })
        });
        // As under CometBFT: the transactions came through this node's CheckTx,
        // so FinalizeBlock finds their signatures already verified.
        group.bench_with_input(
            BenchmarkId::new("finalize_after_check", n),
            &txs,
            |b, txs| {
                b.iter_batched(
                    || {
                        let (dir, ledger) = copy_of(&chain);
                        for tx in txs {
                            assert!(ledger.check_tx(tx).unwrap().is_ok());
                        }
                        (dir, ledger)
                    },
                    |(dir, ledger)| {
                        let r = ledger
                            .finalize_block(chain.height + 1, chain.time, txs)
                            .unwrap();
                        assert!(r.tx_results.iter().all(|t| t.is_ok()));
                        (dir, ledger)
                    },
                    BatchSize::PerIteration,
                )
            },
        );
        group.bench_with_input(
            BenchmarkId::new("finalize_and_commit", n),
            &txs,
            |b, txs| {
                b.iter_batched(
                    || copy_of(&chain),
                    |(dir, ledger)| {
                        ledger
                            .finalize_block(chain.height + 1, chain.time, txs)
                            .unwrap();
                        ledger.commit().unwrap();
                        drop(ledger);
                        dir
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, check, apply);
criterion_main!(benches);
