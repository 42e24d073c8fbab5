//! `ehr-devices run`: the ingest load generator. Every reading of the run is
//! signed before the timed window opens (on all cores), stamped with the
//! moment it is due to be published; during the window the generator only
//! publishes, so that what is measured is ingest, not the devices' signing.
//! With the ingest database it then waits until every reading is anchored
//! and reports from the database's own timestamps. With `--backlog`, the
//! readings are published at once while ingest is paused, and what is
//! reported is how fast it drains them — the protocol of the side-by-side
//! with Kafka Connect (`--connect-json`, scripts/bench-peer.sh).

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use ehr_client::readings::sign;
use ehr_client::service::now_ms;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::Reading;
use rayon::prelude::*;
use rdkafka::producer::Producer;

use crate::probe::{Probe, Usage};
use crate::{device_id, device_key, producer, send};

pub struct Load<'a> {
    pub brokers: &'a str,
    pub kafka: &'a ehr_transport::kafka::KafkaSecurity,
    pub topic: &'a str,
    pub fleet: &'a str,
    pub devices: usize,
    /// Readings per second offered, from the whole fleet.
    pub rate: u64,
    pub seconds: u64,
    /// Readings published at once instead of at `rate` for `seconds`.
    pub backlog: Option<u64>,
    /// As Kafka Connect's JSON with a schema, not as signed protobuf.
    pub connect_json: bool,
}

impl Load<'_> {
    fn total(&self) -> u64 {
        self.backlog.unwrap_or(self.rate * self.seconds)
    }
}

/// The schema of a reading as Kafka Connect's `JsonConverter` reads it
/// (`schemas.enable=true`): the reading's fields and the device's signature
/// (bytes: base64 in the JSON).
const CONNECT_SCHEMA: &str = r#"{"type":"struct","optional":false,"name":"reading","fields":[
{"field":"device_id","type":"string","optional":false},
{"field":"seq","type":"int64","optional":false},
{"field":"measured_at_ms","type":"int64","optional":false},
{"field":"loinc","type":"string","optional":false},
{"field":"value","type":"double","optional":false},
{"field":"unit","type":"string","optional":false},
{"field":"signature","type":"bytes","optional":false}]}"#;

/// A signed reading as Kafka Connect's JSON with its schema: the shape a
/// hospital's JDBC sink would copy into a table.
fn connect_json(r: &Reading, signed: &[u8]) -> Vec<u8> {
    use base64::Engine;
    use prost::Message;
    let signature = ehr_ledger::proto::SignedReading::decode(signed)
        .map(|s| s.signature)
        .unwrap_or_default();
    let payload = serde_json::json!({
        "device_id": r.device_id,
        "seq": r.seq,
        "measured_at_ms": r.measured_at_ms,
        "loinc": r.loinc,
        "value": r.value,
        "unit": r.unit,
        "signature": base64::engine::general_purpose::STANDARD.encode(signature),
    });
    format!(r#"{{"schema":{CONNECT_SCHEMA},"payload":{payload}}}"#).into_bytes()
}

/// Creates `topic` with `partitions` partitions, if it is not there yet.
pub fn create_topic(
    brokers: &str,
    kafka: &ehr_transport::kafka::KafkaSecurity,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let mut config = rdkafka::config::ClientConfig::new();
    kafka.configure(brokers, |k, v| {
        config.set(k, v);
    });
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    // Replicated as the readings topic is: on up to three brokers, two in
    // sync, so that both sides of a comparison write alike.
    let brokers = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))?
        .brokers()
        .len()
        .clamp(1, 3) as i32;
    let insync = brokers.min(2).to_string();
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(brokers))
        .set("min.insync.replicas", &insync);
    let rt = tokio::runtime::Runtime::new()?;
    let results = rt.block_on(admin.create_topics(&[new], &AdminOptions::new()))?;
    for r in results {
        match r {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => return Err(anyhow!("cannot create topic {t}: {code}")),
        }
    }
    Ok(())
}

/// A reading signed ahead, published in its turn.
struct Planned {
    device_id: String,
    payload: Vec<u8>,
}

fn reading(load: &Load<'_>, n: u64, seq_base: u64, opens_ms: i64) -> (usize, Reading) {
    let i = (n as usize) % load.devices;
    let due_ms = (n * 1000 / load.rate) as i64;
    let r = Reading {
        device_id: device_id(load.fleet, i),
        seq: seq_base + n,
        measured_at_ms: opens_ms + due_ms,
        loinc: "8867-4".into(),
        value: 55.0 + (n % 50) as f64,
        unit: "/min".into(),
    };
    (i, r)
}

/// Signs the run's readings; the window opens once they are all signed, at
/// a time chosen beforehand from the signing speed of a sample (the
/// readings carry it as their measurement times).
fn sign_ahead(load: &Load<'_>, seq_base: u64) -> (i64, Vec<Planned>) {
    let keys: Vec<SecretKey> = (0..load.devices)
        .map(|i| device_key(load.fleet, i))
        .collect();
    let total = load.total();
    let sample = total.min(200);
    let started = Instant::now();
    for n in 0..sample {
        let (i, r) = reading(load, n, seq_base, 0);
        sign(&r, &keys[i]);
    }
    let per_reading = started.elapsed().as_secs_f64() / sample.max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let estimate_ms = (total as f64 * per_reading / cores * 1.5 * 1000.0) as i64;
    let opens_ms = match load.backlog {
        // A backlog was measured in the past: the last reading a second ago.
        Some(_) => now_ms() - (total * 1000 / load.rate) as i64 - 1000,
        None => now_ms() + estimate_ms + 1000,
    };
    let planned = (0..total)
        .into_par_iter()
        .map(|n| {
            let (i, r) = reading(load, n, seq_base, opens_ms);
            let signed = sign(&r, &keys[i]);
            Planned {
                payload: if load.connect_json {
                    connect_json(&r, &signed)
                } else {
                    signed
                },
                device_id: r.device_id,
            }
        })
        .collect();
    (opens_ms, planned)
}

pub fn run(
    load: &Load<'_>,
    database_url: Option<&str>,
    ingest_pid: Option<u32>,
) -> anyhow::Result<()> {
    let p = producer(load.brokers, load.kafka)?;
    // Sequence numbers from the start time in µs: unique across runs.
    let seq_base = now_ms() as u64 * 1000;
    let total = load.total();
    let (opens_ms, planned) = sign_ahead(load, seq_base);
    if load.backlog.is_some() {
        return backlog(
            load,
            &p,
            &planned,
            database_url,
            ingest_pid,
            seq_base,
            opens_ms,
        );
    }
    let late_ms = now_ms() - opens_ms;
    if late_ms > 0 {
        eprintln!("ehr-devices: signing took {late_ms} ms longer than foreseen; the readings go out that late");
    } else {
        std::thread::sleep(Duration::from_millis((-late_ms) as u64));
    }
    println!(
        "signed {total} readings of {} devices before the window; publishing {}/s for {} s",
        load.devices, load.rate, load.seconds
    );
    let probe = ingest_pid.map(Probe::start).transpose()?;
    let window = Instant::now() - Duration::from_millis(late_ms.max(0) as u64);
    for (n, reading) in planned.iter().enumerate() {
        let due = window + Duration::from_secs_f64(n as f64 / load.rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        send(&p, load.topic, &reading.device_id, &reading.payload);
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(30))
        .context("Kafka did not confirm")?;
    let elapsed = window.elapsed().as_secs_f64();
    println!(
        "published {total} readings in {elapsed:.1} s ({:.0}/s)",
        total as f64 / elapsed
    );
    let Some(url) = database_url else {
        return Ok(());
    };
    let report = wait_and_measure(load, url, seq_base, opens_ms, total)?;
    let usage = probe.map(Probe::finish).transpose()?;
    print_report(load, &report, usage.as_ref());
    Ok(())
}

/// Publishes the readings at once — while ingest is paused, when its pid is
/// given — then lets it drain them and reports how fast it did.
fn backlog(
    load: &Load<'_>,
    p: &rdkafka::producer::BaseProducer,
    planned: &[Planned],
    database_url: Option<&str>,
    ingest_pid: Option<u32>,
    seq_base: u64,
    opens_ms: i64,
) -> anyhow::Result<()> {
    let signal = |name: &str, pid: u32| -> anyhow::Result<()> {
        let ok = std::process::Command::new("kill")
            .args([name, &pid.to_string()])
            .status()?
            .success();
        ok.then_some(())
            .ok_or_else(|| anyhow!("kill {name} {pid} failed"))
    };
    if let Some(pid) = ingest_pid {
        signal("-STOP", pid)?;
    }
    let probe = ingest_pid.map(Probe::start).transpose();
    let started = Instant::now();
    for reading in planned {
        send(p, load.topic, &reading.device_id, &reading.payload);
        p.poll(Duration::ZERO);
    }
    let flushed = p.flush(Duration::from_secs(60));
    if let Some(pid) = ingest_pid {
        signal("-CONT", pid)?;
    }
    flushed.context("Kafka did not confirm")?;
    let probe = probe?;
    println!(
        "published a backlog of {} readings to {} in {:.1} s{}",
        planned.len(),
        load.topic,
        started.elapsed().as_secs_f64(),
        if ingest_pid.is_some() {
            " while ingest was paused"
        } else {
            ""
        }
    );
    let Some(url) = database_url else {
        return Ok(());
    };
    let report = wait_and_measure(load, url, seq_base, opens_ms, planned.len() as u64)?;
    let usage = probe.map(Probe::finish).transpose()?;
    print_report(load, &report, usage.as_ref());
    Ok(())
}

struct Report {
    ingested: usize,
    span_s: f64,
    to_stored: Vec<f64>,
    to_anchored: Vec<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// Waits (at most 300 s) until every reading of the run is anchored, then
/// reads each one's measurement, storage and anchoring times.
fn wait_and_measure(
    load: &Load<'_>,
    url: &str,
    seq_base: u64,
    opens_ms: i64,
    total: u64,
) -> anyhow::Result<Report> {
    let mut db = ehr_migrations::connect(url)?;
    let pattern = format!("{}-hr-%", load.fleet);
    let base = seq_base as i64;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let row = db.query_one(
            "SELECT count(*), count(b.committed_at) FROM ingest.records r JOIN ingest.batches b USING (batch_id)
             JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
             WHERE d.device_id LIKE $1 AND r.device_seq >= $2",
            &[&pattern, &base],
        )?;
        let (stored, anchored): (i64, i64) = (row.get(0), row.get(1));
        if anchored as u64 >= total {
            break;
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "after 300 s, {stored} stored and {anchored} anchored of {total}"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let rows = db.query(
        "SELECT extract(epoch FROM b.created_at)::float8 * 1000, extract(epoch FROM b.committed_at)::float8 * 1000,
                extract(epoch FROM r.measured_at)::float8 * 1000
         FROM ingest.records r JOIN ingest.batches b USING (batch_id)
         JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
         WHERE d.device_id LIKE $1 AND r.device_seq >= $2",
        &[&pattern, &base],
    )?;
    let mut report = Report {
        ingested: rows.len(),
        span_s: 0.0,
        to_stored: vec![],
        to_anchored: vec![],
    };
    let (mut first_stored, mut last_stored) = (f64::MAX, 0f64);
    for r in &rows {
        let (stored, committed, measured): (f64, f64, f64) = (r.get(0), r.get(1), r.get(2));
        report.to_stored.push(stored - measured);
        report.to_anchored.push(committed - measured);
        first_stored = first_stored.min(stored);
        last_stored = last_stored.max(stored);
    }
    report.to_stored.sort_by(f64::total_cmp);
    report.to_anchored.sort_by(f64::total_cmp);
    // A backlog's drain: from its first batch stored to its last.
    let from = if load.backlog.is_some() {
        first_stored
    } else {
        opens_ms as f64
    };
    report.span_s = (last_stored - from) / 1000.0;
    Ok(report)
}

fn print_report(load: &Load<'_>, r: &Report, usage: Option<&Usage>) {
    let achieved = r.ingested as f64 / r.span_s;
    if load.backlog.is_some() {
        println!(
            "drained {} readings in {:.1} s (first stored to last): {achieved:.0} readings/s",
            r.ingested, r.span_s
        );
    } else {
        println!(
            "ingested {} readings in {:.1} s: {achieved:.0} readings/s end to end",
            r.ingested, r.span_s
        );
    }
    println!(
        "reading → stored:   p50 {:.0} ms, p99 {:.0} ms\nreading → anchored: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&r.to_stored, 0.5),
        percentile(&r.to_stored, 0.99),
        percentile(&r.to_anchored, 0.5),
        percentile(&r.to_anchored, 0.99),
        percentile(&r.to_anchored, 1.0),
    );
    let Some(u) = usage else {
        return;
    };
    println!(
        "ehr-ingest: peak RSS {:.0} MiB, {:.1} s of CPU ({:.0} µs per reading); the machine {:.0} % busy",
        u.peak_rss_mib,
        u.cpu_seconds,
        u.cpu_seconds * 1e6 / r.ingested.max(1) as f64,
        100.0 * u.machine_busy_seconds / u.machine_capacity_seconds.max(1e-9),
    );
    // One row of the table in docs/BENCHMARKS.md.
    println!(
        "| {} /s | {achieved:.0} /s | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.0} MiB | {:.0} µs |",
        load.rate,
        percentile(&r.to_stored, 0.5),
        percentile(&r.to_stored, 0.99),
        percentile(&r.to_anchored, 0.5),
        percentile(&r.to_anchored, 0.99),
        u.peak_rss_mib,
        u.cpu_seconds * 1e6 / r.ingested.max(1) as f64,
    );
}
