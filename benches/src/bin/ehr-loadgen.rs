//! Load generator: signed transactions at a target rate against a node's RPC
//! (`ehr-node dev` or a CometBFT node), reporting committed transactions per
//! second and submit→commit latency percentiles.
//!
//! cargo run --release -p ehr-benches --bin ehr-loadgen -- --node http://127.0.0.1:26657 --rate 500 --seconds 30
//!
//! Senders are fresh patients (any key may register as a patient); each
//! transaction is a patient anchoring one of their own records (signature,
//! nonce, access decision, record write). A transaction counts as committed
//! when the generator sees it in a block; blocks are polled every 20 ms, so
//! latencies include up to 20 ms of polling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Parser;
use ehr_ledger::crypto::{sha256, SecretKey};
use ehr_ledger::proto::{action::Kind, AnchorRecord, Category, RecordRef, RegisterPatient};
use ehr_ledger::rpc::RpcClient;
use ehr_ledger::tx::sign_tx;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:26657")]
    node: String,
    /// Transactions per second to submit.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// How long to submit.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Distinct senders (default: twice the rate, so that each sender's
    /// transactions are far enough apart to reach the node in nonce order).
    #[arg(long)]
    senders: Option<usize>,
}

struct Sender {
    key: SecretKey,
    nonce: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

type Submitted =
    Result<Result<(u32, [u8; 32], String), ehr_ledger::rpc::RpcError>, tokio::task::JoinError>;

fn tally(
    done: Submitted,
    pending: &Mutex<HashMap<[u8; 32], Instant>>,
    refused: &mut u64,
    errors: &mut u64,
    first_refusal: &mut Option<String>,
) {
    match done {
        Ok(Ok((0, _, _))) => {}
        Ok(Ok((_, hash, log))) => {
            *refused += 1;
            pending.lock().unwrap().remove(&hash);
            first_refusal.get_or_insert(log);
        }
        _ => *errors += 1,
    }
}

async fn height(rpc: &RpcClient) -> u64 {
    rpc.latest_height().await.unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let rpc = RpcClient::new(&args.node);
    let status = rpc.status().await.map_err(|e| e.to_string())?;
    let chain = status.node_info.network.clone();
    println!(
        "node {} chain {chain}: {}",
        args.node, status.node_info.version
    );
    // Fresh senders each run, so nonces start at 1.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n_senders = args.senders.unwrap_or((2 * args.rate as usize).max(10));
    let mut senders: Vec<Sender> = (0..n_senders)
        .map(|i| Sender {
            key: SecretKey::from_seed(&format!("loadgen {run} sender {i}")),
            nonce: 0,
        })
        .collect();
    print!("registering {} senders… ", senders.len());
    let mut last = None;
    let mut registrations = tokio::task::JoinSet::new();
    for s in &mut senders {
        s.nonce += 1;
        let tx = sign_tx(
            &s.key,
            &chain,
            s.nonce,
            Kind::RegisterPatient(RegisterPatient::default()),
        );
        last = Some(sha256(&tx));
        let rpc = rpc.clone();
        registrations.spawn(async move { rpc.broadcast_tx_sync(&tx).await });
        while registrations.len() >= 32 {
            if let Some(Ok(Ok(r))) = registrations.join_next().await {
                if r.code != 0 {
                    return Err(format!("registration refused: {}", r.log));
                }
            }
        }
    }
    while let Some(done) = registrations.join_next().await {
        if let Ok(Ok(r)) = done {
            if r.code != 0 {
                return Err(format!("registration refused: {}", r.log));
            }
        }
    }
    if let Some(hash) = last {
        let deadline = Instant::now() + Duration::from_secs(60);
        while rpc.tx(&hash).await.is_err() {
            if Instant::now() > deadline {
                return Err("registrations were not committed within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!("done");

    let pending: Arc<Mutex<HashMap<[u8; 32], Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let start_height = height(&rpc).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Watch blocks: every transaction seen in a block is committed.
    let watcher = {
        let (rpc, pending, latencies, stop) = (
            rpc.clone(),
            pending.clone(),
            latencies.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut next = start_height + 1;
            let mut idle_since = None;
            loop {
                let top = height(&rpc).await;
                while next <= top {
                    if let Ok(block) = rpc.block(Some(next)).await {
                        let seen = Instant::now();
                        let mut p = pending.lock().unwrap();
                        let mut l = latencies.lock().unwrap();
                        for tx in block.block.data.txs.unwrap_or_default() {
                            let bytes = base64::engine::general_purpose::STANDARD
                                .decode(tx)
                                .unwrap_or_default();
                            if let Some(sent) = p.remove(&sha256(&bytes)) {
                                l.push(seen - sent);
                            }
                        }
                    }
                    next += 1;
                }
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let empty = pending.lock().unwrap().is_empty();
                    let waited = *idle_since.get_or_insert_with(Instant::now);
                    if empty || waited.elapsed() > Duration::from_secs(30) {
                        return next - 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    println!("submitting {} tx/s for {} s…", args.rate, args.seconds);
    let started = Instant::now();
    let total = args.rate * args.seconds;
    let (mut submitted, mut refused, mut errors) = (0u64, 0u64, 0u64);
    let mut first_refusal: Option<String> = None;
    let mut in_flight = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let s = &mut senders[i as usize % n_senders];
        s.nonce += 1;
        let id = format!("load-{run}-{i}");
        let record = RecordRef {
            record_id: id.chars().take(64).collect(),
            patient: s.key.address().0.to_vec(),
            category: Category::Vitals as i32,
            ciphertext_sha256: sha256(id.as_bytes()).to_vec(),
            size: 256,
            locator: format!("pg://records/{i}"),
        };
        let tx = sign_tx(
            &s.key,
            &chain,
            s.nonce,
            Kind::AnchorRecord(AnchorRecord {
                record: Some(record),
            }),
        );
        pending.lock().unwrap().insert(sha256(&tx), Instant::now());
        let rpc = rpc.clone();
        in_flight.spawn(async move {
            rpc.broadcast_tx_sync(&tx)
                .await
                .map(|r| (r.code, sha256(&tx), r.log))
        });
        submitted += 1;
        while let Some(done) = in_flight.try_join_next() {
            tally(
                done,
                &pending,
                &mut refused,
                &mut errors,
                &mut first_refusal,
            );
        }
    }
    while let Some(done) = in_flight.join_next().await {
        tally(
            done,
            &pending,
            &mut refused,
            &mut errors,
            &mut first_refusal,
        );
    }
    let submit_secs = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let end_height = watcher.await.map_err(|e| e.to_string())?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    let committed = l.len();
    println!("submitted {submitted} in {submit_secs:.1} s ({:.0}/s); refused by CheckTx {refused}; RPC errors {errors}", submitted as f64 / submit_secs);
    println!(
        "committed {committed} in {elapsed:.1} s: {:.0} tx/s over blocks {}..={end_height}",
        committed as f64 / elapsed,
        start_height + 1
    );
    println!(
        "submit→commit latency: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&l, 0.50).as_secs_f64() * 1e3,
        percentile(&l, 0.90).as_secs_f64() * 1e3,
        percentile(&l, 0.99).as_secs_f64() * 1e3,
        percentile(&l, 1.0).as_secs_f64() * 1e3,
    );
    if let Some(why) = first_refusal {
        println!("first refusal: {why}");
    }
    if committed as u64 + refused < submitted {
        println!(
            "{} submitted transactions were not seen in a block",
            submitted - refused - committed as u64
        );
    }
    Ok(())
}
