//! ehr-devices: a simulated fleet of IoMT devices, and the ingest load
//! generator (docs/ingest.md, docs/BENCHMARKS.md).
//!
//!   ehr-devices setup   --fleet F --devices N                 patients registered, devices bound on chain
//!   ehr-devices publish --device-key K --device-id D --seq S …  one signed reading (the worked example)
//!   ehr-devices run     --fleet F --devices N --rate R --seconds S [--database-url URL]
//!   ehr-devices bound   --seconds S                            signature verifications per second, one core

use anyhow::{anyhow, Context};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use ehr_client::readings::{sign, sign_json};
use ehr_client::rpc::RpcClient;
use ehr_client::service::now_ms;
use ehr_ingest::reading::{decode, verify};
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, BindDevice, Reading, RegisterPatient, SetResearchConsent};
use ehr_ledger::tx::sign_tx;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

#[derive(Parser)]
#[command(
    name = "ehr-devices",
    version,
    about = "Simulated IoMT devices publishing signed readings to Kafka"
)]
struct Args {
    #[arg(
        long,
        global = true,
        env = "KAFKA_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    brokers: String,
    #[arg(
        long,
        global = true,
        env = "EHR_READINGS_TOPIC",
        default_value = ehr_client::readings::READINGS_TOPIC
    )]
    topic: String,
    #[arg(
        long,
        global = true,
        env = "EHR_NODE",
        default_value = ehr_client::rpc::DEFAULT_NODE_URL
    )]
    node: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Enroll (as a member's admin) and register a patient per device and
    /// bind the device (patients bind their own); every other patient
    /// consents to research.
    Setup {
        #[arg(long, default_value = "fleet")]
        fleet: String,
        #[arg(long, default_value_t = 10)]
        devices: usize,
        /// The key file of an admin of a member, who enrolls the patients.
        #[arg(long, env = "EHR_ADMIN_KEY_FILE")]
        admin_key_file: std::path::PathBuf,
    },
    /// Publish one signed reading.
    Publish {
        /// The device's secret key, 64 hex digits.
        #[arg(long)]
        device_key: String,
        #[arg(long)]
        device_id: String,
        #[arg(long)]
        seq: u64,
        #[arg(long, default_value = "8867-4")]
        loinc: String,
        #[arg(long, default_value_t = 72.0)]
        value: f64,
        #[arg(long, default_value = "/min")]
        unit: String,
        /// Send the JSON form instead of protobuf.
        #[arg(long)]
        json: bool,
    },
    /// Publish readings from the fleet at a rate, then report.
    Run {
        #[arg(long, default_value = "fleet")]
        fleet: String,
        #[arg(long, default_value_t = 10)]
        devices: usize,
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// With the ingest database: wait for the readings and report ingest
        /// throughput and reading→anchored latency.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The machine's bound: secp256k1 verifications of readings per second on one core.
    Bound {
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

fn device_key(fleet: &str, i: usize) -> SecretKey {
    SecretKey::from_seed(&format!("{fleet} device {i}"))
}

fn patient_key(fleet: &str, i: usize) -> SecretKey {
    SecretKey::from_seed(&format!("{fleet} patient {i}"))
}

fn device_id(fleet: &str, i: usize) -> String {
    format!("{fleet}-hr-{i}")
}

fn producer(brokers: &str) -> anyhow::Result<BaseProducer> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .with_context(|| format!("cannot reach Kafka at {brokers}"))
}

fn send(p: &BaseProducer, topic: &str, key: &str, payload: &[u8]) {
    loop {
        match p.send(BaseRecord::to(topic).key(key).payload(payload)) {
            Ok(()) => return,
            Err((_, _)) => {
                p.poll(Duration::from_millis(10));
            }
        }
    }
}

async fn setup(
    rpc: &RpcClient,
    admin: &SecretKey,
    fleet: &str,
    devices: usize,
) -> anyhow::Result<()> {
    let chain = rpc.chain_id().await?;
    let mut unregistered = Vec::new();
    for i in 0..devices {
        let patient = patient_key(fleet, i);
        let known: Option<ehr_ledger::proto::Participant> = rpc
            .query(&format!("/participant/{}", patient.address()))
            .await?;
        if known.is_none() {
            unregistered.push(patient.public_key().to_bytes().to_vec());
        }
    }
    ehr_client::enrollment::enroll_patients(rpc, admin, &unregistered).await?;
    let mut last = None;
    for i in 0..devices {
        let patient = patient_key(fleet, i);
        let mut nonce = rpc.next_nonce(&patient.address()).await?;
        let mut actions = vec![];
        if nonce == 1 {
            actions.push(Kind::RegisterPatient(RegisterPatient::default()));
            actions.push(Kind::BindDevice(BindDevice {
                device_id: device_id(fleet, i),
                public_key: device_key(fleet, i).public_key().to_bytes().to_vec(),
                patient: patient.address().0.to_vec(),
            }));
            if i % 2 == 0 {
                actions.push(Kind::SetResearchConsent(SetResearchConsent {
                    patient: patient.address().0.to_vec(),
                    consent: true,
                }));
            }
        }
        for a in actions {
            let tx = sign_tx(&patient, &chain, nonce, a);
            let r = rpc.broadcast_tx_sync(&tx).await?;
            if r.code != 0 {
                return Err(anyhow!("set-up of device {i} refused: {}", r.log));
            }
            nonce += 1;
            last = Some(ehr_ledger::crypto::sha256(&tx));
        }
    }
    if let Some(hash) = last {
        if rpc
            .wait_for_tx(&hash, Duration::from_secs(60))
            .await
            .is_none()
        {
            return Err(anyhow!(
                "the set-up transactions were not committed within 60 s"
            ));
        }
    }
    println!("fleet {fleet}: {devices} devices bound to {devices} patients (every other one consents to research)");
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn run(
    args: &Args,
    fleet: &str,
    devices: usize,
    rate: u64,
    seconds: u64,
    database_url: Option<&str>,
) -> anyhow::Result<()> {
    let p = producer(&args.brokers)?;
    let keys: Vec<SecretKey> = (0..devices).map(|i| device_key(fleet, i)).collect();
    // Sequence numbers from the start time in ms: unique across runs.
    let base = now_ms() as u64 * 1000;
    let total = rate * seconds;
    let started = Instant::now();
    let first_ms = now_ms();
    for n in 0..total {
        let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let i = (n as usize) % devices;
        let reading = Reading {
            device_id: device_id(fleet, i),
            seq: base + n,
            measured_at_ms: now_ms(),
            loinc: "8867-4".into(),
            value: 55.0 + (n % 50) as f64,
            unit: "/min".into(),
        };
        send(
            &p,
            &args.topic,
            &reading.device_id,
            &sign(&reading, &keys[i]),
        );
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(30))
        .context("Kafka did not confirm")?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "published {total} readings from {devices} devices in {elapsed:.1} s ({:.0}/s)",
        total as f64 / elapsed
    );
    let Some(url) = database_url else {
        return Ok(());
    };

    let mut db = postgres::Client::connect(url, postgres::NoTls)?;
    let pattern = format!("{fleet}-hr-%");
    let base_i = base as i64;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let row = db
            .query_one(
                "SELECT count(*), count(b.committed_at) FROM ingest.records r JOIN ingest.batches b USING (batch_id)
                 WHERE r.device_id LIKE $1 AND r.device_seq >= $2",
                &[&pattern, &base_i],
            )
            ?;
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
    let rows = db
        .query(
            "SELECT extract(epoch FROM r.stored_at)::float8 * 1000, extract(epoch FROM b.committed_at)::float8 * 1000,
                    extract(epoch FROM r.measured_at)::float8 * 1000
             FROM ingest.records r JOIN ingest.batches b USING (batch_id) WHERE r.device_id LIKE $1 AND r.device_seq >= $2",
            &[&pattern, &base_i],
        )
        ?;
    let mut to_stored: Vec<f64> = vec![];
    let mut to_anchored: Vec<f64> = vec![];
    let mut last_stored = 0f64;
    for r in &rows {
        let (stored, committed, measured): (f64, f64, f64) = (r.get(0), r.get(1), r.get(2));
        to_stored.push(stored - measured);
        to_anchored.push(committed - measured);
        last_stored = last_stored.max(stored);
    }
    to_stored.sort_by(f64::total_cmp);
    to_anchored.sort_by(f64::total_cmp);
    let span = (last_stored - first_ms as f64) / 1000.0;
    println!(
        "ingested {} readings in {span:.1} s: {:.0} readings/s end to end",
        rows.len(),
        rows.len() as f64 / span
    );
    println!(
        "reading → stored:   p50 {:.0} ms, p99 {:.0} ms\nreading → anchored: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&to_stored, 0.5),
        percentile(&to_stored, 0.99),
        percentile(&to_anchored, 0.5),
        percentile(&to_anchored, 0.99),
        percentile(&to_anchored, 1.0),
    );
    Ok(())
}

fn bound(seconds: u64) {
    let key = SecretKey::from_seed("bound device");
    let payloads: Vec<Vec<u8>> = (1..=1000u64)
        .map(|s| {
            sign(
                &Reading {
                    device_id: "b".into(),
                    seq: s,
                    measured_at_ms: now_ms(),
                    loinc: "8867-4".into(),
                    value: 70.0,
                    unit: "/min".into(),
                },
                &key,
            )
        })
        .collect();
    let pk = key.public_key();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        for p in &payloads {
            let d = decode(p).expect("decodes");
            verify(&d, &pk).expect("verifies");
            n += 1;
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    println!("signature-verification bound: {rate:.0} readings/s on one core (decode + secp256k1 verify; {:.1} µs each)", 1e6 / rate);
}

fn main() {
    let args = Args::parse();
    let result = match &args.command {
        Cmd::Setup {
            fleet,
            devices,
            admin_key_file,
        } => (|| {
            let admin = ehr_client::service::read_key_file(admin_key_file)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(setup(&RpcClient::new(&args.node), &admin, fleet, *devices))
        })(),
        Cmd::Publish {
            device_key,
            device_id,
            seq,
            loinc,
            value,
            unit,
            json,
        } => (|| {
            let key = hex::decode(device_key)
                .ok()
                .and_then(|b| SecretKey::from_bytes(&b))
                .ok_or_else(|| anyhow!("--device-key must be 64 hex digits of a secp256k1 key"))?;
            let reading = Reading {
                device_id: device_id.clone(),
                seq: *seq,
                measured_at_ms: now_ms(),
                loinc: loinc.clone(),
                value: *value,
                unit: unit.clone(),
            };
            let payload = if *json {
                sign_json(&reading, &key)
            } else {
                sign(&reading, &key)
            };
            let p = producer(&args.brokers)?;
            send(&p, &args.topic, device_id, &payload);
            p.flush(Duration::from_secs(10))
                .context("Kafka did not confirm")?;
            println!(
                "published reading {device_id}:{seq} ({} bytes) to {}",
                payload.len(),
                args.topic
            );
            Ok(())
        })(),
        Cmd::Run {
            fleet,
            devices,
            rate,
            seconds,
            database_url,
        } => run(
            &args,
            fleet,
            (*devices).max(1),
            (*rate).max(1),
            *seconds,
            database_url.as_deref(),
        ),
        Cmd::Bound { seconds } => {
            bound(*seconds);
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("ehr-devices: {e:#}");
        std::process::exit(1);
    }
}
