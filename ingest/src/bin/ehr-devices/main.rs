//! ehr-devices: a simulated fleet of IoMT devices, and the ingest load
//! generator (docs/ingest.md, docs/BENCHMARKS.md).
//!
//!   ehr-devices setup   --fleet F --devices N                 patients registered, devices bound on chain
//!   ehr-devices publish --device-key-file F --device-id D --seq S …  one signed reading (the worked example)
//!   ehr-devices run     --fleet F --devices N --rate R --seconds S [--database-url URL]
//!   ehr-devices run     --fleet F --devices N --backlog C --ingest-pid P --database-url URL
//!                                                              C readings while ingest is paused, then its drain
//!   ehr-devices run     --fleet F --devices N --backlog C --connect-json --partitions 4 --topic T
//!                                                              the same readings for Kafka Connect (scripts/bench-peer.sh)
//!   ehr-devices bound   --seconds S                            signature verifications per second, one core

mod load;
mod probe;

use anyhow::{anyhow, Context};
use ehr_transport::kafka::KafkaSecurity;
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
    /// TLS: the authority the node's (and gateway's) certificates chain to.
    #[command(flatten)]
    tls: ehr_transport::ClientTlsArgs,
    /// How the devices' gateway logs in to Kafka.
    #[command(flatten)]
    kafka: ehr_transport::kafka::KafkaArgs,
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
        /// The device's key file (as `ehr keys generate` writes it; only its
        /// owner may read it). Never the key itself on the command line, which
        /// every local user sees.
        #[arg(long, env = "EHR_DEVICE_KEY_FILE")]
        device_key_file: std::path::PathBuf,
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
        /// The ingest service's process id: its peak memory (RSS) and CPU
        /// time per reading are reported too; with --backlog it is paused
        /// (SIGSTOP) while the backlog is published.
        #[arg(long)]
        ingest_pid: Option<u32>,
        /// Publish this many readings at once, as fast as Kafka takes them
        /// (measurement times still `--rate` apart), instead of at `--rate`
        /// for `--seconds`; reported as the drain: readings over the span
        /// from the first stored to the last.
        #[arg(long)]
        backlog: Option<u64>,
        /// Publish each reading as Kafka Connect's JSON with its schema (the
        /// reading's fields and the device's signature), for a JDBC sink.
        #[arg(long, requires = "backlog")]
        connect_json: bool,
        /// Create the topic first with this many partitions (as an admin).
        #[arg(long)]
        partitions: Option<i32>,
    },
    /// The machine's bound: secp256k1 verifications of readings per second on one core.
    Bound {
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

pub(crate) fn device_key(fleet: &str, i: usize) -> SecretKey {
    SecretKey::from_seed(&format!("{fleet} device {i}"))
}

fn patient_key(fleet: &str, i: usize) -> SecretKey {
    SecretKey::from_seed(&format!("{fleet} patient {i}"))
}

pub(crate) fn device_id(fleet: &str, i: usize) -> String {
    format!("{fleet}-hr-{i}")
}

/// A device gateway's producer, logged in as `kafka` says.
pub(crate) fn producer(brokers: &str, kafka: &KafkaSecurity) -> anyhow::Result<BaseProducer> {
    let mut config = ClientConfig::new();
    kafka.configure(brokers, |k, v| {
        config.set(k, v);
    });
    for (k, v) in ehr_client::readings::DURABLE_PRODUCER {
        config.set(k, v);
    }
    config
        .set("linger.ms", "5")
        .create()
        .with_context(|| format!("cannot reach Kafka at {brokers}"))
}

pub(crate) fn send(p: &BaseProducer, topic: &str, key: &str, payload: &[u8]) {
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
    match ehr_transport::Transport::for_client(&args.tls) {
        Ok(transport) => ehr_transport::install(&transport),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
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
            device_key_file,
            device_id,
            seq,
            loinc,
            value,
            unit,
            json,
        } => (|| {
            let key = ehr_client::service::read_key_file(device_key_file)?;
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
            let kafka = args.kafka.security(args.tls.ca_file.as_deref())?;
            let p = producer(&args.brokers, &kafka)?;
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
            ingest_pid,
            backlog,
            connect_json,
            partitions,
        } => (|| {
            let kafka = args.kafka.security(args.tls.ca_file.as_deref())?;
            if let Some(partitions) = partitions {
                load::create_topic(&args.brokers, &kafka, &args.topic, *partitions)?;
            }
            load::run(
                &load::Load {
                    brokers: &args.brokers,
                    kafka: &kafka,
                    topic: &args.topic,
                    fleet,
                    devices: (*devices).max(1),
                    rate: (*rate).max(1),
                    seconds: *seconds,
                    backlog: *backlog,
                    connect_json: *connect_json,
                },
                database_url.as_deref(),
                *ingest_pid,
            )
        })(),
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
