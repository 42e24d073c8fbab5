//! Offered load against a chain's RPC: transactions prepared (and, for the
//! ledger, signed) before the timed window, then released at a fixed rate to a
//! fixed number of concurrent clients, each sending with `broadcast_tx_sync`
//! to its own node (clients spread over the given nodes). A transaction counts
//! as committed when the generator sees it in a block (blocks polled every
//! 20 ms, so latencies include up to 20 ms of polling); its latency runs from
//! its release, so time spent waiting for a free client counts too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use ehr_client::rpc::{RpcClient, RpcError};
use ehr_ledger::crypto::{sha256, SecretKey};
use ehr_ledger::proto::{action::Kind, AnchorRecord, Category, RecordRef, RegisterPatient};
use ehr_ledger::tx::sign_tx;

/// What the transactions are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Signed ehr-ledger transactions: a patient anchoring one of their
    /// records (signature, nonce, access decision, record write).
    Ledger,
    /// `key=value` bytes for CometBFT's built-in kvstore application.
    Kvstore,
}

/// The load to offer.
#[derive(Clone, Debug)]
pub struct Load {
    pub payload: Payload,
    /// Transactions per second.
    pub rate: u64,
    pub seconds: u64,
    /// Distinct ledger senders (default: twice the rate, so that each
    /// sender's transactions reach the node in nonce order).
    pub senders: Option<usize>,
    /// Concurrent clients submitting.
    pub clients: usize,
    /// How each client submits.
    pub broadcast: Broadcast,
}

/// CometBFT's two ways of submitting without waiting for the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Broadcast {
    /// `broadcast_tx_async`: the client moves on at once; a transaction
    /// CheckTx refuses shows only as never committed.
    #[default]
    Async,
    /// `broadcast_tx_sync`: each client waits for CheckTx's answer.
    Sync,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub submitted: u64,
    pub submit_seconds: f64,
    pub refused: u64,
    pub errors: u64,
    pub first_refusal: Option<String>,
    pub committed: u64,
    pub seconds: f64,
    pub blocks: (u64, u64),
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Report {
    pub fn committed_per_second(&self) -> f64 {
        self.committed as f64 / self.seconds.max(1e-9)
    }
}

/// Distinct per run (millisecond clock), so runs never share senders.
fn unique_run() -> i64 {
    ehr_client::service::now_ms()
}

/// Why the run's transactions cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Chain(#[from] RpcError),
    #[error("the ledger load enrolls its senders: give a member admin's key")]
    NoAdmin,
}

/// Prepares every transaction of the run: for the ledger, enrolls (as
/// `admin`, a member's admin) and registers fresh patients as senders
/// (committed before this returns) and signs their anchors in nonce order.
pub async fn prepare(
    rpc: &RpcClient,
    load: &Load,
    admin: Option<&SecretKey>,
) -> Result<Vec<Vec<u8>>, PrepareError> {
    let run = unique_run();
    let total = load.rate * load.seconds;
    if load.payload == Payload::Kvstore {
        return Ok((0..total)
            .map(|i| format!("load-{run}-{i}=value-{i}").into_bytes())
            .collect());
    }
    let chain = rpc.chain_id().await?;
    // A multiple of the clients, so that each sender's transactions all go
    // through one client, in nonce order.
    let clients = load.clients.max(1);
    let n = load
        .senders
        .unwrap_or((2 * load.rate as usize).max(10))
        .min(total.max(1) as usize)
        .div_ceil(clients)
        * clients;
    let senders: Vec<SecretKey> = (0..n)
        .map(|i| SecretKey::from_seed(&format!("loadgen {run} sender {i}")))
        .collect();
    let admin = admin.ok_or(PrepareError::NoAdmin)?;
    let keys: Vec<Vec<u8>> = senders
        .iter()
        .map(|k| k.public_key().to_bytes().to_vec())
        .collect();
    ehr_client::enrollment::enroll_patients(rpc, admin, &keys).await?;
    register(rpc, &chain, &senders).await?;
    let mut nonces = vec![1u64; n];
    Ok((0..total)
        .map(|i| {
            let s = i as usize % n;
            nonces[s] += 1;
            let key = &senders[s];
            let id = format!("load-{run}-{i}");
            let record = RecordRef {
                record_id: id.chars().take(64).collect(),
                patient: key.address().0.to_vec(),
                category: Category::Vitals as i32,
                ciphertext_sha256: sha256(id.as_bytes()).to_vec(),
                size: 256,
                locator: format!("pg://records/{i}"),
            };
            sign_tx(
                key,
                &chain,
                nonces[s],
                Kind::AnchorRecord(AnchorRecord {
                    record: Some(record),
                }),
            )
        })
        .collect())
}

async fn register(rpc: &RpcClient, chain: &str, senders: &[SecretKey]) -> Result<(), RpcError> {
    let mut last = None;
    let mut registrations = tokio::task::JoinSet::new();
    let check =
        |done: Option<Result<Result<ehr_client::rpc::BroadcastTxSync, RpcError>, _>>| match done {
            Some(Ok(Ok(r))) if r.code != 0 => Err(RpcError::Refused {
                what: "registration",
                log: r.log,
            }),
            Some(Ok(Err(e))) => Err(e),
            _ => Ok(()),
        };
    for key in senders {
        let tx = sign_tx(
            key,
            chain,
            1,
            Kind::RegisterPatient(RegisterPatient::default()),
        );
        last = Some(sha256(&tx));
        let rpc = rpc.clone();
        registrations.spawn(async move { rpc.broadcast_tx_sync(&tx).await });
        while registrations.len() >= 32 {
            check(registrations.join_next().await)?;
        }
    }
    while !registrations.is_empty() {
        check(registrations.join_next().await)?;
    }
    match last {
        Some(hash)
            if rpc
                .wait_for_tx(&hash, Duration::from_secs(120))
                .await
                .is_none() =>
        {
            Err(RpcError::NotCommitted {
                what: "the senders' registrations were",
                secs: 120,
            })
        }
        _ => Ok(()),
    }
}

/// The `p` quantile (0..=1) of `sorted` latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

type Pending = Arc<Mutex<HashMap<[u8; 32], Instant>>>;

/// Latencies of ABCI queries asked meanwhile, as the gateway asks them.
#[derive(Clone, Debug, Default)]
pub struct Reads {
    pub answered: u64,
    pub failed: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// `readers` clients, each asking `path` of a node once per `every` (as a
/// gateway asks before each request it serves) until `stop`.
pub fn probe_reads(
    nodes: &[RpcClient],
    path: String,
    readers: usize,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Reads> {
    let nodes = nodes.to_vec();
    tokio::spawn(async move {
        let tasks: Vec<_> = (0..readers)
            .map(|i| {
                let rpc = nodes[i % nodes.len()].clone();
                let (path, stop) = (path.clone(), stop.clone());
                tokio::spawn(async move {
                    let (mut took, mut failed) = (vec![], 0u64);
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    while !stop.load(Ordering::Relaxed) {
                        tick.tick().await;
                        let asked = Instant::now();
                        match rpc.abci_query(&path, &[], 0, false).await {
                            Ok(r) if r.code == 0 => took.push(asked.elapsed()),
                            _ => failed += 1,
                        }
                    }
                    (took, failed)
                })
            })
            .collect();
        let (mut all, mut failed) = (vec![], 0);
        for t in tasks {
            if let Ok((took, f)) = t.await {
                all.extend(took);
                failed += f;
            }
        }
        all.sort();
        Reads {
            answered: all.len() as u64,
            failed,
            p50: percentile(&all, 0.5),
            p99: percentile(&all, 0.99),
            max: percentile(&all, 1.0),
        }
    })
}

/// Releases `txs` at `load.rate` per second to `load.clients` concurrent
/// clients (client i sends to `nodes[i % nodes.len()]`), and waits (up to 30 s
/// after the last submission) for them in blocks of `nodes[0]`.
pub async fn run(nodes: &[RpcClient], txs: Vec<Vec<u8>>, load: &Load) -> Report {
    let (rate, clients, broadcast) = (load.rate, load.clients, load.broadcast);
    let watch = nodes[0].clone();
    let pending: Pending = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let start_height = watch.latest_height().await.unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_blocks(
        watch,
        start_height,
        pending.clone(),
        latencies.clone(),
        stop.clone(),
    ));

    let clients = clients.max(1);
    // A sender's transactions go to one client, in nonce order: transaction
    // i to client i mod clients (senders are a multiple of the clients).
    let (queues, receivers): (Vec<_>, Vec<_>) = (0..clients)
        .map(|_| tokio::sync::mpsc::unbounded_channel::<Vec<u8>>())
        .unzip();
    let workers: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(i, mut rx)| {
            let rpc = nodes[i % nodes.len()].clone();
            let pending = pending.clone();
            tokio::spawn(async move {
                let mut report = Report::default();
                while let Some(tx) = rx.recv().await {
                    let hash = sha256(&tx);
                    let answer = match broadcast {
                        Broadcast::Async => rpc.broadcast_tx_async(&tx).await,
                        Broadcast::Sync => rpc.broadcast_tx_sync(&tx).await,
                    };
                    tally(hash, answer, &pending, &mut report);
                }
                report
            })
        })
        .collect();

    let mut report = Report::default();
    let started = Instant::now();
    for (i, tx) in txs.into_iter().enumerate() {
        let due = started + Duration::from_secs_f64(i as f64 / rate.max(1) as f64);
        tokio::time::sleep_until(due.into()).await;
        pending.lock().unwrap().insert(sha256(&tx), Instant::now());
        let _ = queues[i % clients].send(tx);
        report.submitted += 1;
    }
    drop(queues);
    for w in workers {
        if let Ok(r) = w.await {
            report.refused += r.refused;
            report.errors += r.errors;
            if report.first_refusal.is_none() {
                report.first_refusal = r.first_refusal;
            }
        }
    }
    report.submit_seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (end_height, last_commit) = watcher.await.unwrap_or((start_height, None));
    // Up to the last transaction seen committed: a transaction that never
    // commits (refused after an async broadcast) must not stretch the run
    // by the watcher's 30 s of patience.
    report.seconds = last_commit
        .map_or_else(|| started.elapsed(), |at| at.duration_since(started))
        .as_secs_f64();
    report.blocks = (start_height + 1, end_height);
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    report.committed = l.len() as u64;
    report.p50 = percentile(&l, 0.50);
    report.p90 = percentile(&l, 0.90);
    report.p99 = percentile(&l, 0.99);
    report.max = percentile(&l, 1.0);
    report
}

/// A refused or failed transaction will not be committed: it stops being waited for.
fn tally(
    hash: [u8; 32],
    answer: Result<ehr_client::rpc::BroadcastTxSync, RpcError>,
    pending: &Pending,
    report: &mut Report,
) {
    match answer {
        Ok(r) if r.code == 0 => {}
        Ok(r) => {
            report.refused += 1;
            pending.lock().unwrap().remove(&hash);
            report.first_refusal.get_or_insert(r.log);
        }
        Err(e) => {
            report.errors += 1;
            pending.lock().unwrap().remove(&hash);
            report.first_refusal.get_or_insert(e.to_string());
        }
    }
}

/// Every transaction seen in a block is committed; returns the last height
/// read, once nothing is pending after `stop` (or 30 s after it), and when
/// the last pending transaction was seen.
async fn watch_blocks(
    rpc: RpcClient,
    start_height: u64,
    pending: Pending,
    latencies: Arc<Mutex<Vec<Duration>>>,
    stop: Arc<AtomicBool>,
) -> (u64, Option<Instant>) {
    let mut next = start_height + 1;
    let mut idle_since = None;
    let mut last_commit = None;
    loop {
        let top = rpc.latest_height().await.unwrap_or(0);
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
                        last_commit = Some(seen);
                    }
                }
            }
            next += 1;
        }
        if stop.load(Ordering::Relaxed) {
            let empty = pending.lock().unwrap().is_empty();
            let waited = *idle_since.get_or_insert_with(Instant::now);
            if empty || waited.elapsed() > Duration::from_secs(30) {
                return (next - 1, last_commit);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
