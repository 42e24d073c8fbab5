//! The ledger on four CometBFT validators beside CometBFT's own `kvstore`
//! application on the identical network, in one run: the same validators'
//! settings (`timeout_commit`, default mempool), the same generator, the same
//! offered rates, the same number of concurrent clients (16) spread over the
//! four validators' RPC.
//!
//! cargo build --release --workspace --bins
//! target/release/ehr-consensus-bench --rates 250,500,1000,2000,4000 --seconds 20
//!
//! For each application: a fresh network (ehr-testkit), then each rate with
//! fresh senders, all transactions prepared and signed before the timed
//! window. Prints one Markdown row per run, with the CPU seconds the
//! validators' processes used during it.

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ehr_benches::load::{self, Broadcast, Load, Payload, Reads, Report};
use ehr_client::rpc::RpcClient;
use ehr_testkit::cometbft::{App, Member, Network, Settings};

#[derive(Parser)]
struct Args {
    /// Offered rates, transactions per second.
    #[arg(long, value_delimiter = ',', default_value = "250,500,1000,2000")]
    rates: Vec<u64>,
    /// Seconds of submission per rate.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The validators' timeout_commit.
    #[arg(long, default_value_t = 300)]
    timeout_commit_ms: u64,
    /// Concurrent clients submitting, spread over the four validators.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Wait for each CheckTx answer (broadcast_tx_sync) instead of
    /// broadcast_tx_async.
    #[arg(long)]
    sync: bool,
    /// Turn off CometBFT's recheck of the mempool after each block (on by
    /// default, as the project configures its validators).
    #[arg(long)]
    no_recheck: bool,
    /// Which applications to run, in order: kvstore (built into cometbft),
    /// kvstore-socket (abci-cli kvstore over a Unix socket), kvstore-grpc
    /// (the same over gRPC), ledger.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kvstore,kvstore-socket,ledger"
    )]
    apps: Vec<String>,
    /// Clients asking the ledger's consent query (as the gateway does before
    /// every read) during each run, and for up to 10 s before the first, idle;
    /// 0 for none.
    #[arg(long, default_value_t = 4)]
    readers: usize,
    /// Each reader's pace: one query per this many milliseconds.
    #[arg(long, default_value_t = 10)]
    read_every_ms: u64,
    /// Where the networks live (a temporary folder by default).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter().map(|&p| cpu_seconds(p)).sum()
}

fn members() -> Vec<Member> {
    ["general", "north", "south", "east"]
        .iter()
        .map(|org| Member {
            id: org.to_string(),
            name: format!("{org} hospital"),
            admin_public_key: hex::encode(
                ehr_ledger::crypto::SecretKey::from_seed(&format!("admin@{org}"))
                    .public_key()
                    .to_bytes(),
            ),
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn reads_cell(r: &Option<Reads>) -> String {
    r.as_ref().map_or("—".into(), |r| {
        format!(
            "{:.1} / {:.1} ({}{})",
            ms(r.p50),
            ms(r.p99),
            r.answered,
            if r.failed > 0 {
                format!(", {} failed", r.failed)
            } else {
                String::new()
            }
        )
    })
}

fn row(app: &str, rate: u64, r: &Report, cpu: (f64, f64), reads: &Option<Reads>) -> String {
    format!(
        "| {app} | {rate} | {:.0} ({} of {}) | {:.0} | {:.0} | {:.0} | {:.1} s | {} | {} |",
        r.committed_per_second(),
        r.committed,
        r.submitted,
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        cpu.0,
        if cpu.1 > 0.0 {
            format!("{:.1} s", cpu.1)
        } else {
            "—".into()
        },
        reads_cell(reads)
    )
}

async fn bench(app: App, args: &Args, dir: &Path) -> anyhow::Result<()> {
    let name = match app {
        App::Ledger => "ehr-ledger",
        App::Kvstore => "kvstore",
        App::KvstoreOverSocket => "kvstore (socket)",
        App::KvstoreOverGrpc => "kvstore (gRPC)",
    };
    let settings = Settings {
        timeout_commit: Duration::from_millis(args.timeout_commit_ms),
        chain_id: Some(format!("bench-{name}")),
        app,
        recheck: !args.no_recheck,
        ..Settings::default()
    };
    let mut network = Network::start(&dir.join(name), &members(), settings)?;
    let nodes: Vec<RpcClient> = network.nodes.iter().map(|n| n.rpc()).collect();
    for n in &nodes {
        ehr_testkit::cometbft::wait_height(n, 2, Duration::from_secs(120)).await?;
    }
    // Each node's processes: cometbft, then (for the ledger) ehr-node.
    let cmt_pids: Vec<u32> = network.nodes.iter().map(|n| n.pids()[0]).collect();
    let app_pids: Vec<u32> = network
        .nodes
        .iter()
        .filter_map(|n| n.pids().get(1).copied())
        .collect();
    // The gateway's consent check, a member's admin as patient and reader.
    let admin = ehr_ledger::crypto::SecretKey::from_seed("admin@general").address();
    let read_path = (app == App::Ledger && args.readers > 0)
        .then(|| format!("/access/{admin}/{admin}/vitals/read"));
    let start_reads = || {
        let (path, nodes) = (read_path.clone(), nodes.clone());
        async move {
            let path = path?;
            let stop = Arc::new(AtomicBool::new(false));
            let every = Duration::from_millis(args.read_every_ms.max(1));
            let probe = load::probe_reads(&nodes, path, args.readers, every, stop.clone());
            Some((probe, stop))
        }
    };
    if let Some((probe, stop)) = start_reads().await {
        tokio::time::sleep(Duration::from_secs(args.seconds.min(10))).await;
        stop.store(true, Ordering::Relaxed);
        let idle = probe.await.ok();
        println!("{}", row(name, 0, &Report::default(), (0.0, 0.0), &idle));
    }
    for &rate in &args.rates {
        let spec = Load {
            payload: match app {
                App::Ledger => Payload::Ledger,
                App::Kvstore | App::KvstoreOverSocket | App::KvstoreOverGrpc => Payload::Kvstore,
            },
            rate,
            seconds: args.seconds,
            senders: None,
            clients: args.clients,
            broadcast: if args.sync {
                Broadcast::Sync
            } else {
                Broadcast::Async
            },
        };
        let txs = load::prepare(
            &nodes[0],
            &spec,
            Some(&ehr_ledger::crypto::SecretKey::from_seed("admin@general")),
        )
        .await?;
        let before = (cpu_of(&cmt_pids), cpu_of(&app_pids));
        let probing = start_reads().await;
        let report = load::run(&nodes, txs, &spec).await;
        let cpu = (cpu_of(&cmt_pids) - before.0, cpu_of(&app_pids) - before.1);
        let reads = match probing {
            Some((probe, stop)) => {
                stop.store(true, Ordering::Relaxed);
                probe.await.ok()
            }
            None => None,
        };
        let line = row(name, rate, &report, cpu, &reads);
        println!("{line}");
        if let Some(why) = &report.first_refusal {
            println!("    first refusal: {why}");
        }
    }
    network.stop();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    println!(
        "four validators on 127.0.0.1, timeout_commit {} ms, {} s per rate, {} clients with broadcast_tx_{} spread over the four RPCs",
        args.timeout_commit_ms,
        args.seconds,
        args.clients,
        if args.sync { "sync" } else { "async" }
    );
    println!("| application | offered tx/s | committed tx/s | p50 ms | p99 ms | max ms | CPU cometbft ×4 | CPU app ×4 | consent query p50 / p99 ms (answered) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for app in &args.apps {
        match app.as_str() {
            "kvstore" => bench(App::Kvstore, &args, &dir).await?,
            "kvstore-socket" => bench(App::KvstoreOverSocket, &args, &dir).await?,
            "kvstore-grpc" => bench(App::KvstoreOverGrpc, &args, &dir).await?,
            "ledger" => bench(App::Ledger, &args, &dir).await?,
            other => {
                anyhow::bail!(
                    "--apps takes kvstore, kvstore-socket, kvstore-grpc and ledger, not {other:?}"
                )
            }
        }
    }
    Ok(())
}
