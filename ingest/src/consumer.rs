//! The consume loop. Nothing lost, nothing twice:
//!
//! 1. poll up to `batch_size` messages (or `batch_ms`) — on a thread of its
//!    own, so the next poll fills while this one is worked;
//! 2. check each (pipeline); retry the same messages while the chain or the
//!    database cannot be reached;
//! 3. send refused messages to the dead-letter topic;
//! 4. write records, wrapped keys, the batch and the rejects in ONE
//!    PostgreSQL transaction;
//! 5. only then commit the Kafka offsets.
//!
//! A crash before 5 redelivers messages already stored: their (device, seq)
//! and content hash make them duplicates, skipped. A crash before 4 stores
//! nothing; the messages come again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ehr_client::rpc::proven::ProvenState;
use ehr_client::rpc::trust::{TrustError, TrustRoot};
use ehr_client::rpc::RpcClient;
use ehr_client::service::now_ms;
use ehr_ledger::crypto::SecretKey;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use crate::keyring::{KeyRing, KeySpan};
use crate::metrics::Metrics;
use crate::pipeline::{self, Context, Message, Outcome};
use crate::registry::Registry;
use crate::store::{Store, StoreError};
use crate::withdrawals::Withdrawals;
use ehr_transport::kafka::KafkaSecurity;

#[derive(Clone)]
pub struct Config {
    pub brokers: String,
    /// How it logs in to Kafka (SASL/SCRAM over TLS, or plaintext by choice).
    pub kafka: KafkaSecurity,
    pub topic: String,
    pub dead_letter_topic: String,
    pub group: String,
    pub database_url: String,
    pub node: String,
    /// What the node's answers are proven against (a genesis file, or a dev
    /// sequencer trusted by explicit choice).
    pub trust: TrustRoot,
    /// Answers rest on a state whose newest header is at most this old.
    pub max_state_age: Duration,
    pub key: SecretKey,
    pub pseudonym_secret: Vec<u8>,
    pub batch_size: usize,
    pub batch_ms: u64,
    pub cache_ttl: Duration,
    /// How long, and for how many readings, a patient's data key serves her
    /// next readings while her readers stay the same (`keyring`).
    pub key_span: KeySpan,
    /// How long after it was fetched a chain answer may stand in for the
    /// chain while the chain cannot be reached.
    pub stale_limit: Duration,
    pub session_timeout_ms: u32,
}

/// Why the consumer cannot start: the broker, the database or the runtime.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("cannot {what}: {source}")]
    Kafka {
        what: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot create topic {topic}: {code}")]
    Topic {
        topic: String,
        code: rdkafka::types::RDKafkaErrorCode,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the consumer's runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("cannot set up the chain's trust root: {0}")]
    Trust(#[from] TrustError),
    #[error("cannot read where this service's batch ids go on from: {0}")]
    Chain(#[from] ehr_client::rpc::proven::ProvenError),
}

/// A Kafka failure, said with what was being done.
fn kafka(what: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> ConsumerError {
    let what = what.into();
    move |source| ConsumerError::Kafka { what, source }
}

/// What the Kafka client may hold fetched but not yet polled, per partition.
const QUEUED_KIB_PER_PARTITION: u32 = 4096;

/// A client of the brokers, logged in as this service.
fn kafka_client(cfg: &Config) -> ClientConfig {
    let mut config = ClientConfig::new();
    cfg.kafka.configure(&cfg.brokers, |k, v| {
        config.set(k, v);
    });
    config
}

fn consumer(cfg: &Config) -> Result<BaseConsumer, ConsumerError> {
    let c: BaseConsumer = kafka_client(cfg)
        .set("group.id", &cfg.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", cfg.session_timeout_ms.to_string())
        // Backpressure: the client fetches ahead at most this much per
        // partition (the default is 64 MiB); beyond it, readings wait in
        // Kafka, not in this service's memory.
        .set(
            "queued.max.messages.kbytes",
            QUEUED_KIB_PER_PARTITION.to_string(),
        )
        .create()
        .map_err(kafka("create the Kafka consumer"))?;
    c.subscribe(&[&cfg.topic])
        .map_err(kafka(format!("subscribe to {}", cfg.topic)))?;
    Ok(c)
}

/// Creates the readings and dead-letter topics when the broker lacks them.
fn ensure_topics(cfg: &Config, runtime: &tokio::runtime::Runtime) -> Result<(), ConsumerError> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::types::RDKafkaErrorCode;
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = kafka_client(cfg)
        .create()
        .map_err(kafka(format!("reach Kafka at {}", cfg.brokers)))?;
    let topics = [
        NewTopic::new(&cfg.topic, 1, TopicReplication::Fixed(1)),
        NewTopic::new(&cfg.dead_letter_topic, 1, TopicReplication::Fixed(1)),
    ];
    let results = runtime
        .block_on(admin.create_topics(
            &topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .map_err(kafka(format!("create the topics on {}", cfg.brokers)))?;
    for r in results {
        match r {
            Ok(name) => tracing::info!(topic = %name, "topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(ConsumerError::Topic { topic, code }),
        }
    }
    Ok(())
}

fn producer(cfg: &Config) -> Result<BaseProducer, ConsumerError> {
    let mut config = kafka_client(cfg);
    for (k, v) in ehr_client::readings::DURABLE_PRODUCER {
        config.set(k, v);
    }
    config
        .set("message.timeout.ms", "10000")
        .create()
        .map_err(kafka("create the Kafka producer"))
}

/// Polls up to `batch_size` messages within `batch_ms`.
fn poll(consumer: &BaseConsumer, cfg: &Config) -> Vec<Message> {
    let deadline = Instant::now() + Duration::from_millis(cfg.batch_ms);
    let mut out = Vec::new();
    while out.len() < cfg.batch_size {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match consumer.poll(left) {
            Some(Ok(m)) => out.push(Message::new(
                m.topic(),
                m.partition(),
                m.offset(),
                m.payload().unwrap_or_default(),
            )),
            Some(Err(e)) => tracing::warn!(error = %e, "Kafka poll error"),
            None => {}
        }
    }
    out
}

fn dead_letter(producer: &BaseProducer, cfg: &Config, outcome: &Outcome) {
    for r in &outcome.refused {
        let origin = format!(
            "{}/{}/{}",
            r.message.topic, r.message.partition, r.message.offset
        );
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "ehr-reject-reason",
                value: Some(r.reject.reason.as_str()),
            })
            .insert(Header {
                key: "ehr-reject-detail",
                value: Some(r.reject.detail.as_str()),
            })
            .insert(Header {
                key: "ehr-origin",
                value: Some(origin.as_str()),
            })
            .insert(Header {
                key: "ehr-payload-sha256",
                value: Some(hex::encode(r.message.sha256).as_str()),
            })
            .insert(Header {
                key: "ehr-payload-size",
                value: Some(r.message.size.to_string().as_str()),
            });
        // An oversize message goes without its payload (never copied): its
        // origin, size and hash identify it in the readings topic.
        let record: BaseRecord<'_, (), [u8]> = BaseRecord::to(&cfg.dead_letter_topic)
            .payload(&r.message.payload[..])
            .headers(headers);
        if let Err((e, _)) = producer.send(record) {
            tracing::error!(error = %e, %origin, "could not queue a message for the dead-letter topic");
        }
    }
    if !outcome.refused.is_empty() {
        if let Err(e) = producer.flush(Duration::from_secs(10)) {
            tracing::error!(error = %e, "the dead-letter topic did not confirm; the rejects table still holds the reasons");
        }
    }
}

fn commit(consumer: &BaseConsumer, messages: &[Message]) -> Result<(), rdkafka::error::KafkaError> {
    let mut tpl = TopicPartitionList::new();
    let mut next: std::collections::BTreeMap<(String, i32), i64> = Default::default();
    for m in messages {
        let e = next.entry((m.topic.clone(), m.partition)).or_insert(0);
        *e = (*e).max(m.offset + 1);
    }
    for ((topic, partition), offset) in next {
        tpl.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
    }
    consumer.commit(&tpl, CommitMode::Sync)
}

fn update_lag(consumer: &BaseConsumer, metrics: &Metrics) {
    let Ok(position) = consumer.position() else {
        return;
    };
    let mut lag = 0i64;
    for p in position.elements() {
        if let (Offset::Offset(at), Ok((_, high))) = (
            p.offset(),
            consumer.fetch_watermarks(p.topic(), p.partition(), Duration::from_millis(500)),
        ) {
            lag += (high - at).max(0);
        }
    }
    metrics.consumer_lag.set(lag);
}

/// What works a poll: checks it, writes it, and says what became of it.
struct Worker<'a> {
    cfg: &'a Config,
    runtime: tokio::runtime::Runtime,
    registry: Registry,
    store: Store,
    producer: BaseProducer,
    metrics: &'a Metrics,
    stop: &'a AtomicBool,
    withdrawals: Withdrawals,
    keys: KeyRing,
}

impl Worker<'_> {
    /// Checks and writes a poll, retrying the same messages while the chain
    /// or the database cannot be reached. False when stopped meanwhile.
    fn store_poll(&mut self, messages: &[Message]) -> bool {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.attempt(messages) {
                Ok((outcome, written)) => {
                    self.report(&outcome, written);
                    return true;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot process this poll yet; retrying the same messages");
                    if self.stop.load(Ordering::Relaxed) {
                        return false;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    if let Err(error) = self.store.reconnect_if_lost() {
                        tracing::warn!(%error, "the database is not back yet");
                    }
                }
            }
        }
    }

    /// Follows research consent withdrawals committed since the last time;
    /// a chain or database that does not answer delays it, nothing else.
    fn follow_withdrawals(&mut self) {
        if let Err(error) = self.withdrawals.follow(
            &self.runtime,
            &self.registry,
            &mut self.store,
            &self.cfg.pseudonym_secret,
            &self.keys,
        ) {
            tracing::warn!(%error, "consent withdrawals not followed yet; trying again");
        }
    }

    fn attempt(&mut self, messages: &[Message]) -> Result<(Outcome, Written), pipeline::Transient> {
        self.follow_withdrawals();
        let ctx = Context {
            runtime: &self.runtime,
            registry: &self.registry,
            pseudonym_secret: &self.cfg.pseudonym_secret,
            now_ms: now_ms(),
            withdrawals: &self.withdrawals,
            metrics: self.metrics,
            keys: &self.keys,
        };
        let outcome = pipeline::process(&ctx, &mut self.store, messages)?;
        dead_letter(&self.producer, self.cfg, &outcome);
        let written = match self.store.write(&outcome.records, &outcome.rejects()) {
            Ok(batch) => Written {
                batch,
                unstorable: Vec::new(),
            },
            // Something in this poll can never be stored as it is: store it
            // message by message, so that only the culprit is refused, never
            // the whole queue.
            Err(e) if !e.is_transient() => {
                tracing::error!(error = %e, "a message of this poll cannot be stored as it is; storing the poll message by message");
                write_one_by_one(&mut self.store, &outcome)?
            }
            Err(e) => return Err(e.into()),
        };
        Ok((outcome, written))
    }

    fn report(&self, outcome: &Outcome, written: Written) {
        let metrics = self.metrics;
        let stored = outcome.records.len() - written.unstorable.len();
        metrics.stored.inc_by(stored as u64);
        metrics.duplicates.inc_by(outcome.duplicates as u64);
        for r in &outcome.refused {
            metrics.rejected(r.reject.reason.as_str());
            tracing::info!(
                reason = r.reject.reason.as_str(),
                offset = r.message.offset,
                "reading refused"
            );
        }
        for r in &written.unstorable {
            metrics.rejected(&r.reason);
            tracing::warn!(reason = %r.reason, offset = r.offset, detail = %r.detail, "reading refused");
        }
        if let Some(b) = written.batch {
            metrics.batches_written.inc();
            tracing::info!(
                batch = b.batch_id,
                records = b.record_count,
                "batch written"
            );
        }
    }
}

/// Stored (or refused and recorded): now the offsets may move on.
fn commit_offsets(consumer: &BaseConsumer, messages: &[Message], stop: &AtomicBool) {
    let mut tries = 0;
    while let Err(e) = commit(consumer, messages) {
        tries += 1;
        tracing::warn!(error = %e, "offset commit failed; retrying (the messages are stored, a redelivery is harmless)");
        if tries > 5 || stop.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

impl ConsumerError {
    /// Whether waiting may cure it (the chain not answering, or not yet
    /// proving: no block after the newest, a header not there yet).
    fn is_transient(&self) -> bool {
        use ehr_client::rpc::proven::ProvenError;
        use ehr_client::rpc::trust::TrustError;
        matches!(
            self,
            ConsumerError::Trust(TrustError::Rpc(_) | TrustError::NoHeaderYet(_))
                | ConsumerError::Chain(ProvenError::Rpc(_) | ProvenError::Stale { .. })
                | ConsumerError::Chain(ProvenError::Trust(
                    TrustError::Rpc(_) | TrustError::NoHeaderYet(_)
                ))
        )
    }
}

/// The chain on proof, and where this service's batch ids go on from: the
/// chain's next id, whatever the database remembers (the newest block's
/// state: the last anchor may be in it).
async fn chain_and_next_batch(
    cfg: &Config,
) -> Result<(ProvenState, Option<ehr_ledger::proto::Counter>), ConsumerError> {
    let chain =
        ProvenState::connect(RpcClient::new(&cfg.node), &cfg.trust, cfg.max_state_age).await?;
    let next = chain
        .newest()
        .await?
        .get(&ehr_ledger::ledger::keys::next_batch(&cfg.key.address()))
        .await?;
    Ok((chain, next))
}

/// Consumes until `stop` is set. Returns an error only for set-up failures.
pub fn run(cfg: Config, metrics: Arc<Metrics>, stop: Arc<AtomicBool>) -> Result<(), ConsumerError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    ensure_topics(&cfg, &runtime)?;
    let mut store = Store::connect(&cfg.database_url, &cfg.key.address().to_string())?;
    // The chain may not answer yet (or not prove yet): readings wait in Kafka
    // meanwhile, and the service says why, rather than stopping.
    let mut backoff = Duration::from_millis(500);
    let (chain, next) = loop {
        match runtime.block_on(chain_and_next_batch(&cfg)) {
            Ok(found) => break found,
            // A trust root that cannot be (a genesis file not there, a node
            // claiming to be a sequencer …) is not waited out.
            Err(error) if !error.is_transient() => return Err(error),
            Err(error) => {
                tracing::warn!(%error, "the chain cannot be asked on proof yet; retrying");
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    };
    store.number_batches_from(next.map_or(1, |c| c.next))?;
    let mut worker = Worker {
        registry: Registry::new(chain, cfg.cache_ttl, cfg.stale_limit),
        runtime,
        store,
        producer: producer(&cfg)?,
        cfg: &cfg,
        metrics: &metrics,
        stop: &stop,
        withdrawals: Withdrawals::default(),
        keys: KeyRing::new(cfg.key_span),
    };
    let consumer = consumer(&cfg)?;
    // The next poll fills while this one is checked and written, so a batch
    // closes every batch_ms whatever the work behind it. At most one poll
    // waits its turn: beyond that the poller stops fetching and the readings
    // wait in Kafka (backpressure), not in this service's memory.
    let (polled, polls) = std::sync::mpsc::sync_channel::<Vec<Message>>(1);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("poll".into())
            .spawn_scoped(scope, || {
                poll_until_stopped(&consumer, &cfg, &metrics, &stop, polled)
            })?;
        loop {
            match polls.recv_timeout(Duration::from_secs(1)) {
                Ok(messages) => {
                    if !worker.store_poll(&messages) {
                        break;
                    }
                    commit_offsets(&consumer, &messages, &stop);
                }
                // No readings: consent withdrawals are still followed.
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => worker.follow_withdrawals(),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(())
    })
}

/// Polls batches and hands them on, one at a time, until `stop` is set or
/// the worker is gone.
fn poll_until_stopped(
    consumer: &BaseConsumer,
    cfg: &Config,
    metrics: &Metrics,
    stop: &AtomicBool,
    polled: std::sync::mpsc::SyncSender<Vec<Message>>,
) {
    let mut rounds = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let messages = poll(consumer, cfg);
        rounds += 1;
        if rounds.is_multiple_of(20) {
            update_lag(consumer, metrics);
        }
        if !messages.is_empty() && polled.send(messages).is_err() {
            return;
        }
    }
}

/// What a poll's write produced.
struct Written {
    /// The poll's batch (the last one, when written record by record).
    batch: Option<crate::store::Batch>,
    /// Readings PostgreSQL refused to store, recorded as rejects instead.
    unstorable: Vec<crate::store::NewReject>,
}

/// The poll's rejects, then each record in a batch of its own; a record
/// PostgreSQL refuses for good becomes a reject with PostgreSQL's reason.
/// A transient failure stops it: the poll is tried again as a whole, and
/// what was written already is recognised then (idempotency keys).
fn write_one_by_one(
    store: &mut Store,
    outcome: &pipeline::Outcome,
) -> Result<Written, crate::store::StoreError> {
    let mut written = Written {
        batch: None,
        unstorable: Vec::new(),
    };
    for reject in outcome.rejects() {
        match store.write(&[], std::slice::from_ref(&reject)) {
            Ok(_) => {}
            // Its text is made storable first, so this is not expected; the
            // message is still in the dead-letter topic with its reason.
            Err(e) if !e.is_transient() => {
                tracing::error!(error = %e, offset = reject.offset, "a refusal could not be recorded in the rejects table")
            }
            Err(e) => return Err(e),
        }
    }
    for record in &outcome.records {
        match store.write(std::slice::from_ref(record), &[]) {
            Ok(batch) => written.batch = batch.or(written.batch),
            Err(e) if !e.is_transient() => {
                let reject = crate::store::NewReject::unstorable(record, &e);
                store.write(&[], std::slice::from_ref(&reject))?;
                written.unstorable.push(reject);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}
