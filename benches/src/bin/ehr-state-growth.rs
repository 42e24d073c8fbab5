//! How the ledger's store grows with transactions: a four-hospital chain
//! driven block by block in this process (mock consensus, as the tests do),
//! patients anchoring records, the size of `ledger.redb` reported as it grows.
//!
//! cargo run --release -p ehr-benches --bin ehr-state-growth -- --transactions 1000000
//!
//! Every version of the state tree is kept today (queries with proofs at any
//! past height), so the figure is what a validator's disk holds per
//! transaction, before any pruning.

use std::time::Instant;

use clap::Parser;
use ehr_ledger::crypto::sha256;
use ehr_ledger::mock_consensus::{consortium_genesis, Actor, TestNode};
use ehr_ledger::proto::{action::Kind, *};
use rayon::prelude::*;

#[derive(Parser)]
struct Args {
    /// Anchoring transactions in all.
    #[arg(long, default_value_t = 1_000_000)]
    transactions: u64,
    /// Transactions per block.
    #[arg(long, default_value_t = 1000)]
    block: u64,
    /// Patients anchoring (each anchors in turn, nonces in order).
    #[arg(long, default_value_t = 1000)]
    patients: usize,
    /// Lines printed on the way (besides the last).
    #[arg(long, default_value_t = 10)]
    reports: u64,
}

const CHAIN: &str = "ehr-growth";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.redb");
    let mut node = TestNode::init(
        &path,
        CHAIN,
        &consortium_genesis(&["general", "north", "south", "east"]),
    )?;
    let mut admin = Actor::new("admin@general", CHAIN);
    let mut patients: Vec<Actor> = (0..args.patients)
        .map(|i| Actor::new(&format!("growth patient {i}"), CHAIN))
        .collect();
    // An enrolment carries at most 500 keys.
    let enrolments = patients
        .chunks(500)
        .map(|c| {
            admin.tx(Kind::EnrollPatient(EnrollPatient {
                public_keys: c.iter().map(|p| p.public_key()).collect(),
            }))
        })
        .collect();
    let registrations = patients
        .iter_mut()
        .map(|p| p.tx(Kind::RegisterPatient(RegisterPatient::default())))
        .collect();
    for txs in [enrolments, registrations] {
        let result = node.block(txs)?;
        if let Some(r) = result.tx_results.iter().find(|r| !r.is_ok()) {
            anyhow::bail!("setting up was refused: {:?} {}", r.code, r.log);
        }
    }
    let base = std::fs::metadata(&path)?.len();
    println!(
        "after genesis and {} patients: {:.1} MiB",
        args.patients,
        base as f64 / 1_048_576.0
    );
    println!("| transactions | blocks | ledger.redb | per transaction since | elapsed |");
    println!("|---|---|---|---|---|");
    let started = Instant::now();
    let every = (args.transactions / args.reports.max(1)).max(args.block);
    let (mut done, mut blocks) = (0u64, 0u64);
    while done < args.transactions {
        let n = args.block.min(args.transactions - done);
        // Nonces in order: patient i's k-th anchor carries nonce k + 1.
        let jobs: Vec<(usize, u64, u64)> = (0..n)
            .map(|j| {
                let i = ((done + j) % args.patients as u64) as usize;
                patients[i].nonce += 1;
                (i, patients[i].nonce, done + j)
            })
            .collect();
        let txs: Vec<Vec<u8>> = jobs
            .par_iter()
            .map(|&(i, nonce, seq)| {
                let p = &patients[i];
                let id = format!("growth-{seq}");
                p.tx_with_nonce(
                    nonce,
                    Kind::AnchorRecord(AnchorRecord {
                        record: Some(RecordRef {
                            record_id: id.clone(),
                            patient: p.addr(),
                            category: Category::Vitals as i32,
                            ciphertext_sha256: sha256(id.as_bytes()).to_vec(),
                            size: 256,
                            locator: format!("pg://records/{seq}"),
                        }),
                    }),
                )
            })
            .collect();
        let result = node.block(txs)?;
        if let Some(r) = result.tx_results.iter().find(|r| !r.is_ok()) {
            anyhow::bail!("a transaction was refused: {:?} {}", r.code, r.log);
        }
        done += n;
        blocks += 1;
        if done % every == 0 || done == args.transactions {
            let size = std::fs::metadata(&path)?.len();
            println!(
                "| {done} | {blocks} | {:.1} MiB | {:.0} bytes | {:.0} s |",
                size as f64 / 1_048_576.0,
                (size - base) as f64 / done as f64,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
