//! The read path under load: the whole stack as real processes (Apache
//! Kafka, PostgreSQL, the chain — `ehr-node dev`, or four CometBFT
//! validators with `--cometbft` — `ehr-ingest`, `ehr-gateway`), alice's
//! readings stored and anchored, then N concurrent clients fetching pages of
//! her vitals as her doctor — signed, checked on chain, disclosed — for a
//! while; with `--write-rate`, signed ledger transactions submitted to every
//! validator at that rate meanwhile, so that the gateway's latency is
//! measured while the chain is under write load, in one run. Prints both
//! sides (docs/BENCHMARKS.md, "The read path").
//!
//!     cargo build --release --locked --workspace --bins
//!     target/release/ehr-read-bench --clients 8 --seconds 20 --page 50
//!     target/release/ehr-read-bench --cometbft --write-rate 500
//!     target/release/ehr-read-bench --cometbft --read-rate 50 --tls-and-plaintext
//!     target/release/ehr-read-bench --read-rate 50 --clients 4 --day --prefill 30000000 --days-back 40

use std::time::{Duration, Instant};

use clap::Parser;
use ehr_benches::load::{self, Broadcast, Load, Payload, Report};
use ehr_client::read_path::client::{GatewayClient, RecordsQuery};
use ehr_client::rpc::RpcClient;
use ehr_testkit::stack::*;

#[derive(Parser, Clone)]
struct Args {
    /// Concurrent reading clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// How long the clients read (and the writes are submitted).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Records per page.
    #[arg(long, default_value_t = 50)]
    page: i64,
    /// Requests per second over all clients (0: each client as fast as
    /// it is answered). A fixed rate shows latency at a given load; as fast
    /// as possible shows the read path's throughput.
    #[arg(long, default_value_t = 0)]
    read_rate: u64,
    /// Four CometBFT validators instead of the dev sequencer.
    #[arg(long)]
    cometbft: bool,
    /// Signed ledger transactions per second submitted during the reads,
    /// spread over every validator (0: none).
    #[arg(long, default_value_t = 0)]
    write_rate: u64,
    /// The cost of TLS on the readers' link: a second gateway on the same
    /// stack serving plaintext HTTP, and the reads alternate between the two
    /// (four rounds of --seconds / 4, HTTPS first), each reported on its own.
    #[arg(long)]
    tls_and_plaintext: bool,
    /// With --cometbft: each hospital's validator at a site of its own
    /// (a network namespace), this many milliseconds one way (± a tenth)
    /// between every two sites, through Toxiproxy.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// With --latency-ms: the validators' timeout_commit.
    #[arg(long, default_value_t = 300)]
    timeout_commit_ms: u64,
    /// With --latency-ms: the validators' p2p.flush_throttle_timeout.
    #[arg(long, default_value_t = 100)]
    flush_throttle_ms: u64,
    /// Readings per second a device publishes during the reads (0: none);
    /// their time from measurement to their batch's anchor is reported.
    #[arg(long, default_value_t = 0)]
    reading_rate: u64,
    /// Readings of other patients stored before alice's (`ehr_benches::
    /// prefill`: 2 000 beds at 400 a second, ending now, in today's and
    /// yesterday's partitions): the reads against tables of that size.
    #[arg(long, default_value_t = 0)]
    prefill: i64,
    /// Ask for the last day of alice's readings (a time window, as a
    /// clinician's view of a day asks), not all of them: only that day's
    /// partitions are read.
    #[arg(long)]
    day: bool,
    /// Everything stored this many days back: the prefill ends then, and
    /// alice's readings are moved there once stored (as the owner); past 31,
    /// the days are closed (`ehr-db close-days`: sorted, a BRIN in place of
    /// their keys) and the reads measure a closed day. With --day, her day
    /// that far back is asked for.
    #[arg(long, default_value_t = 0)]
    days_back: i64,
}

/// Latencies of the reads: what was served, and what failed.
#[derive(Default)]
struct Reads {
    latencies: Vec<Duration>,
    errors: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    eprintln!("starting the stack…");
    let s = match (args.cometbft, args.latency_ms) {
        (true, Some(one_way)) => {
            let s = Stack::start_on_cometbft_across_sites(
                Duration::from_millis(args.timeout_commit_ms),
                Duration::from_millis(args.flush_throttle_ms),
            );
            let sites = s.node.sites().expect("the validators run across sites");
            sites.set_latency(
                Duration::from_millis(one_way),
                Duration::from_millis(one_way / 10),
            )?;
            eprintln!(
                "the four validators at four sites ({}), {one_way} ms one way between every two",
                if sites.isolated {
                    "network namespaces"
                } else {
                    "loopback: no namespaces here"
                }
            );
            s
        }
        (true, None) => Stack::start_on_cometbft(),
        (false, Some(_)) => anyhow::bail!("--latency-ms needs --cometbft"),
        (false, None) => Stack::start(),
    };
    if args.prefill > 0 {
        let at = std::time::Instant::now();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        let end_ms = now_ms - args.days_back * 86_400_000;
        ehr_benches::prefill::prefill(&mut s.db.client()?, args.prefill, 2_000, 400, end_ms)?;
        eprintln!(
            "prefilled {} readings of other patients in {:.0} s",
            args.prefill,
            at.elapsed().as_secs_f64()
        );
    }
    let n = 1000;
    s.alice_heart_rates(n);
    if args.days_back > 0 {
        let at = std::time::Instant::now();
        move_back(&s, args.days_back)?;
        eprintln!(
            "moved every reading {} days back and closed the days it could in {:.0} s",
            args.days_back,
            at.elapsed().as_secs_f64()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let writes = Load {
        payload: Payload::Ledger,
        rate: args.write_rate,
        seconds: args.seconds,
        senders: None,
        clients: 16,
        broadcast: Broadcast::Async,
    };
    let nodes: Vec<RpcClient> = s.node.urls().iter().map(|u| RpcClient::new(u)).collect();
    let txs = if args.write_rate > 0 {
        eprintln!(
            "signing {} ledger transactions…",
            args.write_rate * args.seconds
        );
        runtime.block_on(load::prepare(&nodes[0], &writes, Some(&s.cast.admin)))?
    } else {
        Vec::new()
    };
    eprintln!(
        "{n} readings stored and anchored; {} clients for {} s, {} records per page, {} writes/s, chain: {}",
        args.clients,
        args.seconds,
        args.page,
        args.write_rate,
        if args.cometbft { "four CometBFT validators" } else { "dev sequencer" }
    );
    let (reads, written) = runtime.block_on(async {
        let writer = (!txs.is_empty()).then(|| {
            let nodes = nodes.clone();
            let writes = writes.clone();
            tokio::spawn(async move { load::run(&nodes, txs, &writes).await })
        });
        let reads = if args.tls_and_plaintext {
            let plain = GatewayProcess::start_plaintext(
                &s.dir.path().join("plaintext-gateway"),
                &s.db,
                &s.node,
                &s.gateway_key,
            );
            let clients = [
                ("HTTPS", s.client(&s.cast.doctor)),
                (
                    "plaintext HTTP",
                    GatewayClient::new(&plain.url, s.cast.doctor.clone()),
                ),
            ];
            let quarter = Args {
                seconds: (args.seconds / 4).max(1),
                ..args.clone()
            };
            let mut by_mode = [Reads::default(), Reads::default()];
            for round in 0..4 {
                let (mode, client) = &clients[round % 2];
                eprintln!("round {}: {mode}", round + 1);
                let r = read(client, &s, &quarter, n as i64).await;
                by_mode[round % 2].latencies.extend(r.latencies);
                by_mode[round % 2].errors += r.errors;
            }
            for ((mode, _), reads) in clients.iter().zip(&by_mode) {
                print!("{mode}: ");
                report_reads(
                    reads,
                    &Args {
                        seconds: quarter.seconds * 2,
                        ..args.clone()
                    },
                );
            }
            by_mode.into_iter().next().unwrap_or_default()
        } else {
            read(&s.client(&s.cast.doctor), &s, &args, n as i64).await
        };
        let device = (args.reading_rate > 0).then(|| {
            let producer: rdkafka::producer::BaseProducer =
                s.broker.producer_config().create().expect("a producer");
            let (key, rate, seconds) = (s.cast.hr.clone(), args.reading_rate, args.seconds);
            std::thread::spawn(move || publish_readings(&producer, &key, rate, seconds))
        });
        let written = match writer {
            Some(w) => Some(w.await.expect("the write load finishes")),
            None => None,
        };
        if let Some(d) = device {
            d.join().expect("the device's thread");
        }
        (reads, written)
    });
    if args.reading_rate > 0 {
        report_anchoring(&s, args.reading_rate, args.seconds);
    }
    if !args.tls_and_plaintext {
        report_reads(&reads, &args);
    }
    if let Some(w) = written {
        report_writes(&w, &args);
    }
    report_disclosures(&s);
    // Whether either grows with the tables (docs/BENCHMARKS.md, "Memory").
    for (name, memory) in [
        ("ehr-ingest", s.ingest.memory()),
        ("ehr-gateway", s.gateway.memory()),
    ] {
        match memory {
            Some(m) => println!("memory: {name} {m}"),
            None => println!("memory: {name} has exited"),
        }
    }
    Ok(())
}

/// Alice's readings (those of pairs the prefill did not make) moved `days`
/// back, their day's partition made, then the days more than 31 days old
/// closed.
fn move_back(s: &Stack, days: i64) -> anyhow::Result<()> {
    let mut db = s.db.client()?;
    let hers =
        "pair_no IN (SELECT pair_no FROM ingest.patient_devices WHERE device_id NOT LIKE 'pf-%')";
    db.execute(
        &format!(
            "SELECT ingest.make_record_days(min(measured_at AT TIME ZONE 'UTC')::date - $1::int,
                                            max(measured_at AT TIME ZONE 'UTC')::date - $1::int)
             FROM ingest.records WHERE {hers}"
        ),
        &[&(days as i32)],
    )?;
    db.execute(
        &format!(
            "UPDATE ingest.records SET measured_at = measured_at - $1::int * interval '1 day' WHERE {hers}"
        ),
        &[&(days as i32)],
    )?;
    db.batch_execute("VACUUM ANALYZE ingest.records")?;
    ehr_migrations::close_days(&s.db.url, |d| {
        eprintln!(
            "closed {} ({} readings, {})",
            d.day,
            d.readings,
            ehr_migrations::values_closed(d)
        )
    })?;
    Ok(())
}

/// `clients` readers fetching pages of alice's vitals until the time is up.
async fn read(client: &GatewayClient, s: &Stack, args: &Args, n: i64) -> Reads {
    let alice = s.cast.alice.address();
    let page = args.page;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    // Each client's requests start at fixed times, whatever the answers took.
    let every = (args.read_rate > 0)
        .then(|| Duration::from_secs_f64(args.clients as f64 / args.read_rate as f64));
    let day = args.day.then(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            - args.days_back * 86_400
    });
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut reads = Reads {
                latencies: Vec::new(),
                errors: 0,
            };
            let mut after = (c as i64 * 97) % (n - page);
            let mut next = start + every.map_or(Duration::ZERO, |e| e.mul_f64(c as f64 / 8.0));
            while Instant::now() < deadline {
                if let Some(every) = every {
                    tokio::time::sleep_until(next.into()).await;
                    next += every;
                }
                let q = RecordsQuery {
                    after: Some(after),
                    limit: Some(page),
                    from: day.map(|now| now - 86_400),
                    to: day.map(|now| now + 3_600),
                    ..RecordsQuery::category("vitals")
                };
                let t = Instant::now();
                match client.records(&alice, &q).await {
                    Ok(p) if p.records.len() as i64 == page => reads.latencies.push(t.elapsed()),
                    _ => reads.errors += 1,
                }
                after = (after + 131) % (n - page);
            }
            reads
        }));
    }
    let mut all = Reads {
        latencies: Vec::new(),
        errors: 0,
    };
    for t in tasks {
        let r = t.await.expect("a reader finishes");
        all.latencies.extend(r.latencies);
        all.errors += r.errors;
    }
    all
}

fn report_reads(reads: &Reads, args: &Args) {
    let mut ms: Vec<f64> = reads
        .latencies
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    if ms.is_empty() {
        println!("reads: none served, errors {}", reads.errors);
        return;
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "reads: clients {}, page {}, rate {}: {} requests in {} s = {:.0} req/s ({:.0} records/s), errors {}; latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        args.clients,
        args.page,
        match args.read_rate {
            0 => "as fast as answered".to_string(),
            r => format!("{r}/s"),
        },
        ms.len(),
        args.seconds,
        ms.len() as f64 / args.seconds as f64,
        (ms.len() as f64 * args.page as f64) / args.seconds as f64,
        reads.errors,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        ms[ms.len() - 1]
    );
}

/// The first sequence number of the readings published during the run.
const FIRST_TIMED: u64 = 1_000_000;

/// A heart-rate device publishing `rate` readings a second for `seconds`,
/// each stamped with the moment it is sent.
fn publish_readings(
    producer: &rdkafka::producer::BaseProducer,
    key: &ehr_ledger::crypto::SecretKey,
    rate: u64,
    seconds: u64,
) {
    use rdkafka::producer::{BaseRecord, Producer};
    let start = Instant::now();
    for i in 0..rate * seconds {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut reading = heart_rate(FIRST_TIMED + i, 60.0 + (i % 40) as f64);
        reading.measured_at_ms = ehr_client::service::now_ms();
        let payload = ehr_client::readings::sign(&reading, key);
        let mut record = BaseRecord::to(TOPIC).key("hr-1").payload(&payload);
        while let Err((_, r)) = producer.send(record) {
            producer.poll(Duration::from_millis(10));
            record = r;
        }
        producer.poll(Duration::ZERO);
    }
    let _ = producer.flush(Duration::from_secs(30));
}

/// From each timed reading's measurement to its batch's anchor on chain.
fn report_anchoring(s: &Stack, rate: u64, seconds: u64) {
    let published = rate * seconds;
    let timed = format!(
        "FROM ingest.stored_records r JOIN ingest.batches b USING (batch_id)
         WHERE r.device_id = 'hr-1' AND r.device_seq >= {FIRST_TIMED} AND b.status = 'committed'"
    );
    let all = wait_until(Duration::from_secs(120), || {
        s.db.count(&format!("SELECT count(*) {timed}")) >= published as i64
    });
    let mut c = s.db.client().expect("the database answers");
    let row = c
        .query_one(
            &format!(
                "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY x), percentile_cont(0.99) WITHIN GROUP (ORDER BY x), max(x)
                 FROM (SELECT extract(epoch FROM b.committed_at - r.measured_at)::float8 AS x {timed}) t"
            ),
            &[],
        )
        .expect("the anchoring query");
    let (n, p50, p99, max): (i64, Option<f64>, Option<f64>, Option<f64>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    println!(
        "readings: {published} published at {rate}/s, {n} anchored{}; measured → anchored p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        if all { "" } else { " (NOT all within 2 minutes)" },
        p50.unwrap_or(f64::NAN),
        p99.unwrap_or(f64::NAN),
        max.unwrap_or(f64::NAN)
    );
}

fn report_writes(w: &Report, args: &Args) {
    println!(
        "writes: offered {} tx/s, submitted {} in {:.1} s, refused {}, errors {}; committed {} = {:.0} tx/s; submit → committed p50 {:.2} s, p99 {:.2} s",
        args.write_rate,
        w.submitted,
        w.submit_seconds,
        w.refused,
        w.errors,
        w.committed,
        w.committed_per_second(),
        w.p50.as_secs_f64(),
        w.p99.as_secs_f64()
    );
}

/// Every request was disclosed; lets the logger catch up and says how far it got.
fn report_disclosures(s: &Stack) {
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
