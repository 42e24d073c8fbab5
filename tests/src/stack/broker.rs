//! Apache Kafka of one test, with the readings and dead-letter topics.

use super::*;

/// Apache Kafka of this test alone (its own folder and ports), with the
/// readings and dead-letter topics.
pub struct Broker {
    kafka: crate::kafka::Kafka,
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::with_partitions(1)
    }

    /// With the readings topic in `partitions` partitions.
    pub fn with_partitions(partitions: i32) -> Broker {
        Broker::cluster(1, partitions)
    }

    /// A cluster of `brokers` brokers; the readings topic in `partitions`
    /// partitions, each on up to three brokers with two in sync.
    pub fn cluster(brokers: usize, partitions: i32) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let kafka = crate::kafka::Kafka::start_cluster(
            dir.path(),
            crate::kafka::BrokerSecurity::Scram(crate::pki::for_tests()),
            brokers,
        )
        .unwrap_or_else(|e| panic!("Apache Kafka starts: {e}"));
        let broker = Broker {
            address: kafka.address.clone(),
            kafka,
            _dir: dir,
        };
        broker
            .kafka
            .create_topics(&[TOPIC], partitions)
            .unwrap_or_else(|e| panic!("{e}"));
        broker.create_topics(&[DLQ]);
        broker
    }

    pub fn create_topics(&self, names: &[&str]) {
        self.kafka
            .create_topics(names, 1)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A device gateway's producer: it may write readings, nothing else.
    pub fn producer(&self) -> BaseProducer {
        self.producer_config().create().expect("producer")
    }

    /// How a device gateway's producer is configured: durable
    /// (`DURABLE_PRODUCER`), in batches of a few milliseconds.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config(crate::kafka::DEVICE_GATEWAY);
        for (k, v) in ehr_client::readings::DURABLE_PRODUCER {
            config.set(k, v);
        }
        config
            .set("linger.ms", "20")
            .set("batch.num.messages", "1000")
            .clone()
    }

    /// kill -9 of broker `i` (from 0) of the cluster.
    pub fn kill_broker(&mut self, i: usize) {
        self.kafka.kill_broker(i);
    }

    /// Broker `i` started again on its data; returns once it serves.
    pub fn restart_broker(&mut self, i: usize) {
        self.kafka
            .restart_broker(i)
            .unwrap_or_else(|e| panic!("broker {i} restarts: {e}"));
    }

    /// The index (from 0) of the broker leading `partition` of the readings
    /// topic now.
    pub fn leader_of(&self, partition: i32) -> usize {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let c: BaseConsumer = self
            .client_config(crate::kafka::ADMIN)
            .create()
            .expect("a client of the cluster");
        let metadata = c
            .fetch_metadata(Some(TOPIC), Duration::from_secs(10))
            .expect("the cluster's metadata");
        let leader = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions())
            .find(|p| p.id() == partition)
            .map(|p| p.leader())
            .expect("the partition has a leader");
        usize::try_from(leader - 1).expect("node ids count from 1")
    }

    /// A client of this broker logged in as `user` (`kafka::ADMIN` for a
    /// test's own looks at any topic).
    pub fn client_config(&self, user: &str) -> ClientConfig {
        self.kafka.client_config(user)
    }

    /// What a service is told to log in to this broker as `user`.
    pub fn login_args(&self, user: &str) -> Vec<std::ffi::OsString> {
        self.kafka.login_args(user)
    }

    pub fn publish(&self, payloads: &[Vec<u8>]) {
        let p = self.producer();
        for (i, payload) in payloads.iter().enumerate() {
            let key = i.to_string();
            loop {
                match p.send(BaseRecord::to(TOPIC).payload(payload).key(&key)) {
                    Ok(()) => break,
                    Err((e, _)) => {
                        assert!(format!("{e}").contains("Queue full"), "produce: {e}");
                        p.poll(Duration::from_millis(50));
                    }
                }
            }
        }
        p.flush(Duration::from_secs(30))
            .expect("the broker confirms every reading");
    }
}
