//! The FHIR API under a hospital system's reads: the whole stack as real
//! processes (Apache Kafka, PostgreSQL, four CometBFT validators, ingest,
//! the gateway) and `ehr-fhir` beside it; alice's heart rates stored and
//! anchored; then a caller over mutual TLS asking
//! `Observation?patient=<alice>&code=8867-4&_count=<count>` again and again
//! (each answer fetched through the gateway as her doctor, opened and
//! verified in the API, logged on chain). In the same run, the gateway's own
//! answer to the same page (signed, ciphertexts and proofs, no decryption or
//! verification) for comparison. Prints both (docs/BENCHMARKS.md, "The FHIR
//! API").
//!
//!     cargo build --release --locked --workspace --bins
//!     target/release/ehr-fhir-bench --readings 1000 --count 100 --requests 200

use std::time::{Duration, Instant};

use clap::Parser;
use ehr_benches::load::percentile;
use ehr_client::read_path::client::RecordsQuery;
use ehr_testkit::stack::*;

#[derive(Parser)]
struct Args {
    /// Heart rates of alice stored and anchored first.
    #[arg(long, default_value_t = 1000)]
    readings: u64,
    /// Observations a page (`_count`).
    #[arg(long, default_value_t = 100)]
    count: u32,
    /// Requests measured (after 5 unmeasured).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// The dev sequencer instead of four CometBFT validators.
    #[arg(long)]
    dev: bool,
}

struct Measured {
    latencies: Vec<Duration>,
    items: usize,
    seconds: f64,
}

impl Measured {
    fn print(&self, what: &str, requests: usize) {
        let mut l = self.latencies.clone();
        l.sort();
        println!(
            "{what}: {requests} requests, {} items each; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.1} requests/s",
            self.items,
            percentile(&l, 0.5).as_secs_f64() * 1e3,
            percentile(&l, 0.99).as_secs_f64() * 1e3,
            l.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            requests as f64 / self.seconds
        );
    }
}

fn measure<F: std::future::Future<Output = usize>>(
    s: &Stack,
    requests: usize,
    mut one: impl FnMut() -> F,
) -> Measured {
    for _ in 0..5 {
        s.block_on(one());
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut items = 0;
    let start = Instant::now();
    for _ in 0..requests {
        let t = Instant::now();
        items = s.block_on(one());
        latencies.push(t.elapsed());
    }
    Measured {
        latencies,
        items,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    eprintln!("starting the stack…");
    let s = if args.dev {
        Stack::start()
    } else {
        Stack::start_on_cometbft()
    };
    eprintln!("storing and anchoring {} readings…", args.readings);
    let mut left = args.readings;
    while left > 0 {
        let n = left.min(500);
        s.alice_heart_rates(n);
        left -= n;
    }
    let api = FhirProcess::start(&s, &["bench-system=doctor"]);
    let (_, http) = caller("bench-system");
    let alice = s.cast.alice.address();
    let url = format!(
        "{}/Observation?patient={alice}&code=8867-4&_count={}",
        api.base, args.count
    );

    let fhir = measure(&s, args.requests, || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .get(&url)
                .header("accept", "application/fhir+json")
                .send()
                .await
                .expect("the API answers");
            assert!(r.status().is_success(), "HTTP {}", r.status());
            let b: serde_json::Value = r.json().await.expect("JSON");
            b["entry"].as_array().map_or(0, Vec::len)
        }
    });
    let gateway = s.client(&s.cast.doctor);
    let raw = measure(&s, args.requests, || {
        let (gateway, alice) = (gateway.clone(), alice);
        let q = RecordsQuery {
            category: "vitals".into(),
            limit: Some(args.count.into()),
            loinc: vec!["8867-4".into()],
            ..Default::default()
        };
        async move {
            gateway
                .records(&alice, &q)
                .await
                .expect("the gateway answers")
                .records
                .len()
        }
    });
    println!(
        "chain: {}; {} readings stored",
        if args.dev {
            "ehr-node dev"
        } else {
            "four CometBFT validators"
        },
        args.readings
    );
    fhir.print(
        "FHIR API, Observation search (fetched as the doctor, opened, verified)",
        args.requests,
    );
    raw.print(
        "gateway, the same page (signed; no decryption or verification)",
        args.requests,
    );
    Ok(())
}
