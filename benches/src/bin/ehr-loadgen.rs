//! Load generator: signed transactions at a target rate against a node's RPC
//! (`ehr-node dev` or CometBFT validators), reporting committed transactions
//! per second and submit→commit latency percentiles.
//!
//! cargo run --release -p ehr-benches --bin ehr-loadgen -- --node http://127.0.0.1:26657 --rate 500 --seconds 30
//!
//! Senders are fresh patients (any key may register as a patient); each
//! transaction is a patient anchoring one of their own records. Every
//! transaction is signed before the timed window; `--node` may be repeated to
//! spread submissions over several validators.

use clap::Parser;
use ehr_benches::load::{self, Broadcast, Load, Payload};
use ehr_client::rpc::RpcClient;

#[derive(Parser)]
struct Args {
    /// The key file of a member's admin, who enrolls the load's patients
    /// (ledger load only).
    #[arg(long, env = "EHR_ADMIN_KEY_FILE")]
    admin_key_file: Option<std::path::PathBuf>,
    /// A node's RPC (repeat to spread the load over several).
    #[arg(long, default_value = ehr_client::rpc::DEFAULT_NODE_URL)]
    node: Vec<String>,
    /// Transactions per second to submit.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// How long to submit.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Distinct senders (default: twice the rate).
    #[arg(long)]
    senders: Option<usize>,
    /// Concurrent clients submitting (spread over the --node given).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// `key=value` transactions for CometBFT's kvstore application instead.
    #[arg(long)]
    kvstore: bool,
    /// Wait for each CheckTx answer (broadcast_tx_sync) instead of
    /// broadcast_tx_async.
    #[arg(long)]
    sync: bool,
    /// TLS: the authority the node's (and gateway's) certificates chain to.
    #[command(flatten)]
    tls: ehr_transport::ClientTlsArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match ehr_transport::Transport::for_client(&args.tls) {
        Ok(transport) => ehr_transport::install(&transport),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
    let nodes: Vec<RpcClient> = args.node.iter().map(|u| RpcClient::new(u)).collect();
    let status = nodes[0].status().await?;
    println!(
        "node {} chain {}: {}",
        args.node[0], status.node_info.network, status.node_info.version
    );
    let spec = Load {
        payload: if args.kvstore {
            Payload::Kvstore
        } else {
            Payload::Ledger
        },
        rate: args.rate,
        seconds: args.seconds,
        senders: args.senders,
        clients: args.clients,
        broadcast: if args.sync {
            Broadcast::Sync
        } else {
            Broadcast::Async
        },
    };
    println!("preparing {} transactions…", args.rate * args.seconds);
    let admin = args
        .admin_key_file
        .as_deref()
        .map(ehr_client::service::read_key_file)
        .transpose()?;
    let txs = load::prepare(&nodes[0], &spec, admin.as_ref()).await?;
    println!("submitting {} tx/s for {} s…", args.rate, args.seconds);
    let r = load::run(&nodes, txs, &spec).await;
    println!(
        "submitted {} in {:.1} s ({:.0}/s); refused by CheckTx {}; RPC errors {}",
        r.submitted,
        r.submit_seconds,
        r.submitted as f64 / r.submit_seconds,
        r.refused,
        r.errors
    );
    println!(
        "committed {} in {:.1} s: {:.0} tx/s over blocks {}..={}",
        r.committed,
        r.seconds,
        r.committed_per_second(),
        r.blocks.0,
        r.blocks.1
    );
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "submit→commit latency: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(r.p50),
        ms(r.p90),
        ms(r.p99),
        ms(r.max)
    );
    if let Some(why) = r.first_refusal {
        println!("first refusal: {why}");
    }
    let lost = r.submitted - r.refused - r.errors - r.committed;
    if lost > 0 {
        println!("{lost} submitted transactions were not seen in a block");
    }
    Ok(())
}
