//! Load generator for the read path: the whole stack as real processes
//! (Apache Kafka, PostgreSQL, `ehr-node dev`, `ehr-ingest`, `ehr-gateway`), alice's
//! readings stored and anchored, then N concurrent clients fetching pages of
//! her vitals as her doctor — signed, checked on chain, disclosed — for a
//! while. Prints throughput and latency percentiles (docs/BENCHMARKS.md).
//!
//!     cargo build --release --locked --workspace --bins
//!     cargo run --release --locked -p ehr-gateway --example read_load -- 8 20 50
//!
//! Arguments: clients (8), seconds (20), records per page (50).

use std::time::{Duration, Instant};

use ehr_client::read_path::client::RecordsQuery;
use ehr_testkit::stack::*;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = *args.first().unwrap_or(&8) as usize;
    let seconds = *args.get(1).unwrap_or(&20);
    let page = *args.get(2).unwrap_or(&50) as i64;

    eprintln!("starting the stack…");
    let s = Stack::start();
    let n = 1000;
    s.alice_heart_rates(n);
    eprintln!("{n} readings stored and anchored; {clients} clients for {seconds} s, {page} records per page");

    let alice = s.cast.alice.address();
    let client = s.client(&s.cast.doctor);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (latencies, errors) = runtime.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..clients {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut after = (c as i64 * 97) % (n as i64 - page);
                while Instant::now() < deadline {
                    let q = RecordsQuery {
                        after: Some(after),
                        limit: Some(page),
                        ..RecordsQuery::category("vitals")
                    };
                    let t = Instant::now();
                    match client.records(&alice, &q).await {
                        Ok(p) if p.records.len() as i64 == page => lat.push(t.elapsed()),
                        _ => errors += 1,
                    }
                    after = (after + 131) % (n as i64 - page);
                }
                (lat, errors)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            all.extend(l);
            errors += e;
        }
        (all, errors)
    });
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "clients {clients}, page {page}: {} requests in {seconds} s = {:.0} req/s ({:.0} records/s), errors {errors}; latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms.len(),
        ms.len() as f64 / seconds as f64,
        (ms.len() as f64 * page as f64) / seconds as f64,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        ms[ms.len() - 1]
    );
    // Every request was disclosed; let the logger catch up and say how far it got.
    let logged = wait_until(Duration::from_secs(60), || {
        s.db.count("SELECT count(*) FROM gateway.disclosures WHERE status <> 'committed'") == 0
    });
    println!(
        "disclosures logged on chain: {} of {} ({})",
        s.db.count("SELECT count(*) FROM gateway.disclosures WHERE status = 'committed'"),
        s.db.count("SELECT count(*) FROM gateway.disclosures"),
        if logged {
            "all"
        } else {
            "still catching up after 60 s"
        }
    );
}
