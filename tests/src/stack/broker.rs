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
        let dir = tempfile::tempdir().unwrap();
        let kafka = crate::kafka::Kafka::start(dir.path())
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
        self.client_config(crate::kafka::DEVICE_GATEWAY)
            .set("linger.ms", "20")
            .set("batch.num.messages", "1000")
            .create()
            .expect("producer")
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
