//! How the ledger's store grows with transactions: a four-hospital chain
//! driven block by block in this process (mock consensus, as the tests do),
//! patients anchoring records, the size of `ledger.redb` reported as it grows.
//!
//! cargo run --release -p ehr-benches --bin ehr-state-growth -- --transactions 1000000
//!
//! By default every version of the state tree is kept (an archive node:
//! proofs at any past height); `--keep-heights N` prunes as
//! `ehr-node start --keep-heights N` does. At the end the state is written
//! as a state-sync snapshot and restored into an empty ledger, timed: what a
//! joining hospital's node does.

use std::time::Instant;

use clap::Parser;
use ehr_ledger::crypto::sha256;
use ehr_ledger::ledger::{ChunkVerdict, Ledger, LedgerOptions, OfferVerdict};
use ehr_ledger::mock_consensus::{consortium_genesis, Actor, TestNode};
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::storage::snapshot::{self, Manifest, SnapshotStore};
use ehr_ledger::storage::Retention;
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
    /// Keep the tree of the last this many heights only (0: every height).
    #[arg(long, default_value_t = 0)]
    keep_heights: u64,
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
    )?
    .reopen_with(LedgerOptions {
        retention: match args.keep_heights {
            0 => Retention::Everything,
            n => Retention::LastHeights(n),
        },
        snapshots: None,
        max_restore_bytes: None,
    })?;
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
    let base = node.ledger.storage().used_bytes()?;
    println!(
        "after genesis and {} patients: {:.1} MiB",
        args.patients,
        base as f64 / 1_048_576.0
    );
    println!("| transactions | blocks | ledger.redb file | pages in use | per transaction since | tree nodes | stale index | elapsed |");
    println!("|---|---|---|---|---|---|---|---|");
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
            let used = node.ledger.storage().used_bytes()?;
            let rows = node.ledger.storage().tree_rows()?;
            println!(
                "| {done} | {blocks} | {:.1} MiB | {:.1} MiB | {:.0} bytes | {} | {} | {:.0} s |",
                size as f64 / 1_048_576.0,
                used as f64 / 1_048_576.0,
                used.saturating_sub(base) as f64 / done as f64,
                rows.nodes,
                rows.stale,
                started.elapsed().as_secs_f64()
            );
        }
    }
    report_tables(&node, done)?;
    snapshot_and_restore(&node, dir.path())
}

/// Where the bytes went, table by table: keys and values as stored, redb's
/// page and entry headers, and the free space inside the tables' pages.
fn report_tables(node: &TestNode, transactions: u64) -> anyhow::Result<()> {
    let per_tx = |b: u64| b as f64 / transactions as f64;
    println!("| table | entries | stored bytes per transaction | metadata | free inside its pages | pages |");
    println!("|---|---|---|---|---|---|");
    let (mut stored, mut metadata, mut fragmented) = (0, 0, 0);
    for t in node.ledger.storage().table_bytes()? {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {} |",
            t.table,
            t.entries,
            per_tx(t.stored),
            per_tx(t.metadata),
            per_tx(t.fragmented),
            t.pages
        );
        stored += t.stored;
        metadata += t.metadata;
        fragmented += t.fragmented;
    }
    println!(
        "| all tables | | {:.0} | {:.0} | {:.0} | |",
        per_tx(stored),
        per_tx(metadata),
        per_tx(fragmented)
    );
    Ok(())
}

/// Resident memory of this process, in bytes (Linux's /proc/self/statm).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

/// The highest resident memory seen while it runs (sampled every 20 ms):
/// what a restore adds to the process, the chain it came from aside.
struct PeakResident {
    before: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl PeakResident {
    fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let before = resident_bytes();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut highest = before;
            while !done.load(Ordering::Relaxed) {
                highest = highest.max(resident_bytes());
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            highest.max(resident_bytes())
        });
        Self {
            before,
            stop,
            sampler,
        }
    }

    /// Resident memory before, and the highest seen.
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (self.before, self.sampler.join().unwrap_or(self.before))
    }
}

/// Writes the state as a snapshot and restores it into an empty ledger, as
/// a joining node does (without the network); prints sizes and times.
fn snapshot_and_restore(node: &TestNode, dir: &std::path::Path) -> anyhow::Result<()> {
    let store = SnapshotStore::new(dir.join("snapshots"), 1, snapshot::CHUNK_BYTES);
    let started = Instant::now();
    let export = node
        .ledger
        .storage()
        .export()?
        .ok_or_else(|| anyhow::anyhow!("no state to snapshot"))?;
    let manifest = store.save(&export)?;
    drop(export);
    let written = started.elapsed();
    let bytes: u64 = (0..manifest.chunks())
        .filter_map(|i| store.chunk(manifest.height, manifest.format, i))
        .map(|c| c.len() as u64)
        .sum();
    let joiner = Ledger::open(&dir.join("joiner.redb"))?;
    let peak = PeakResident::start();
    let started = Instant::now();
    let offered = Manifest::from_offer(
        manifest.height,
        manifest.format,
        manifest.chunks(),
        &manifest.hash(),
        &manifest.metadata(),
    );
    let status = node.ledger.status()?.expect("a chain");
    if joiner.offer_snapshot(offered, &status.app_hash)? != OfferVerdict::Accept {
        anyhow::bail!("the snapshot was not accepted");
    }
    let mut last = None;
    for i in 0..manifest.chunks() {
        let chunk = store
            .chunk(manifest.height, manifest.format, i)
            .ok_or_else(|| anyhow::anyhow!("chunk {i} missing"))?;
        last = Some(joiner.apply_snapshot_chunk(i, &chunk)?);
    }
    if last != Some(ChunkVerdict::Restored(manifest.height)) {
        anyhow::bail!("the restore did not finish: {last:?}");
    }
    let restored = started.elapsed();
    let (before, highest) = peak.stop();
    let restored_size = joiner.storage().used_bytes()?;
    println!(
        "restore: resident memory {:.0} MiB before, at most {:.0} MiB during (+{:.0} MiB)",
        before as f64 / 1_048_576.0,
        highest as f64 / 1_048_576.0,
        highest.saturating_sub(before) as f64 / 1_048_576.0
    );
    println!(
        "snapshot at height {}: {} chunks, {:.1} MiB, written in {:.1} s; restored into an empty ledger \
         (app hash checked) in {:.1} s, its pages in use {:.1} MiB",
        manifest.height,
        manifest.chunks(),
        bytes as f64 / 1_048_576.0,
        written.as_secs_f64(),
        restored.as_secs_f64(),
        restored_size as f64 / 1_048_576.0
    );
    Ok(())
}
