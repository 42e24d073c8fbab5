//! A fleet of simulated IoMT devices: each bound on chain to one patient,
//! publishing signed readings to Kafka at a steady rate. Now and then a
//! device misbehaves — a bad signature, an implausible value, a device that
//! was never bound — so the rejects the ingest service records are visible.

use ehr_transport::kafka::KafkaSecurity;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ehr_client::readings::sign;
pub use ehr_client::service::now_ms;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::Reading;
use std::collections::BTreeSet;
use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

/// One simulated device: its id, key, and what it measures.
pub struct Device {
    pub id: String,
    pub key: SecretKey,
    pub loinc: &'static str,
}

/// What the fleet's kinds of device measure (LOINC codes of `ehr_client::vitals`,
/// whose typical ranges the values are drawn from).
pub const KINDS: [&str; 4] = ["8867-4", "59408-5", "8310-5", "9279-1"];

/// Every this many readings, one misbehaves.
pub const BAD_EVERY: u64 = 200;

#[derive(Default)]
pub struct Counters {
    pub published: AtomicU64,
    pub bad: AtomicU64,
    /// What the brokers acknowledged (every in-sync replica has it).
    pub acknowledged: AtomicU64,
    /// What the brokers never acknowledged (the producer gave up).
    pub unacknowledged: AtomicU64,
    /// The well-formed readings acknowledged: (device index, sequence number).
    pub acknowledged_good: Mutex<BTreeSet<(usize, u64)>>,
}

/// What the producer is told of each reading it sent.
struct Deliveries(Arc<Counters>);

/// A reading in flight: its device and sequence number, and whether it was
/// sent well-formed (and so must be stored).
type Sent = Box<(usize, u64, bool)>;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Sent;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Sent) {
        let (device, seq, good) = *sent;
        match result {
            Ok(_) => {
                self.0.acknowledged.fetch_add(1, Ordering::Relaxed);
                if good {
                    self.0
                        .acknowledged_good
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert((device, seq));
                }
            }
            Err(_) => {
                self.0.unacknowledged.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A producer logged in as the device gateway (it may write readings,
/// nothing else), durable as a device gateway must be.
fn producer<C: ProducerContext>(
    brokers: &str,
    kafka: &KafkaSecurity,
    context: C,
) -> Result<BaseProducer<C>, crate::Error> {
    let mut config = ClientConfig::new();
    kafka.configure(brokers, |k, v| {
        config.set(k, v);
    });
    for (k, v) in ehr_client::readings::DURABLE_PRODUCER {
        config.set(k, v);
    }
    // A reading the brokers cannot take is retried for two minutes, through
    // a broker's failover, before it counts unacknowledged.
    Ok(config
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000")
        .create_with_context(context)?)
}

/// What the brokers answered for the one reading of `publish_one`.
#[derive(Default)]
struct Answer(Mutex<Option<Result<(), String>>>);

impl ClientContext for Answer {}

impl ProducerContext for Answer {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let answer = result.as_ref().map(|_| ()).map_err(|(e, _)| e.to_string());
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
    }
}

/// Publishes one signed reading (the story's, outside the fleet's pace) and
/// waits until the brokers acknowledge it, or says why not.
pub fn publish_one(
    brokers: &str,
    kafka: &KafkaSecurity,
    topic: &str,
    reading: &Reading,
    key: &SecretKey,
) -> Result<(), crate::Error> {
    let producer = producer(brokers, kafka, Answer::default())?;
    let payload = sign(reading, key);
    producer
        .send(
            BaseRecord::to(topic)
                .key(&reading.device_id)
                .payload(&payload),
        )
        .map_err(|(e, _)| e)?;
    producer.flush(Duration::from_secs(130))?;
    let answer = producer
        .context()
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    match answer {
        Some(Ok(())) => Ok(()),
        Some(Err(why)) => Err(crate::Error::Invalid(format!(
            "the brokers refused the reading: {why}"
        ))),
        None => Err(crate::Error::Invalid(
            "the brokers never answered for the reading".into(),
        )),
    }
}

/// Publishes round-robin from `devices` at `rate` readings per second until `stop`.
pub fn run(
    brokers: &str,
    kafka: &KafkaSecurity,
    topic: &str,
    devices: &[Device],
    rate: u64,
    stop: &AtomicBool,
    counters: &Arc<Counters>,
) -> Result<(), crate::Error> {
    let producer = producer(brokers, kafka, Deliveries(counters.clone()))?;
    let start = Instant::now();
    let mut seqs = vec![0u64; devices.len()];
    let mut n = 0u64;
    let stranger = SecretKey::generate();
    while !stop.load(Ordering::Relaxed) && !devices.is_empty() {
        // Pace: reading n is due at n / rate seconds.
        let due = start + Duration::from_secs_f64(n as f64 / rate.max(1) as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait.min(Duration::from_millis(200)));
            continue;
        }
        let i = (n % devices.len() as u64) as usize;
        let d = &devices[i];
        seqs[i] += 1;
        // KINDS are all in the table; the first stands in were one not.
        let vital = ehr_client::vitals::vital(d.loinc).unwrap_or(&ehr_client::vitals::VITALS[0]);
        let (unit, (low, high)) = (vital.unit, vital.typical);
        let wobble = ((n * 7919 + i as u64 * 104_729) % 1000) as f64 / 1000.0;
        let mut reading = Reading {
            device_id: d.id.clone(),
            seq: seqs[i],
            measured_at_ms: now_ms(),
            loinc: d.loinc.to_string(),
            value: ((low + (high - low) * wobble) * 10.0).round() / 10.0,
            unit: unit.to_string(),
        };
        let misbehaves = n % BAD_EVERY == BAD_EVERY - 1;
        let payload = if misbehaves {
            counters.bad.fetch_add(1, Ordering::Relaxed);
            match (n / BAD_EVERY) % 3 {
                // Signed by a key that is not the device's.
                0 => sign(&reading, &stranger),
                // A value no body produces.
                1 => {
                    reading.value = -40.0;
                    sign(&reading, &d.key)
                }
                // A device nobody bound.
                _ => {
                    reading.device_id = "unbound-device".into();
                    sign(&reading, &stranger)
                }
            }
        } else {
            sign(&reading, &d.key)
        };
        let key = reading.device_id.clone();
        let sent: Sent = Box::new((i, reading.seq, !misbehaves));
        let mut record = BaseRecord::with_opaque_to(topic, sent)
            .key(&key)
            .payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    if !matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ) {
                        return Err(e.into());
                    }
                    producer.poll(Duration::from_millis(50));
                    record = r;
                }
            }
        }
        producer.poll(Duration::ZERO);
        counters.published.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    // Whatever is still in flight gets its answer (or its failure) now.
    Ok(producer.flush(Duration::from_secs(130))?)
}
