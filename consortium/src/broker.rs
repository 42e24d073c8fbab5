//! The broker: a cluster of three Apache Kafka brokers, from the jars
//! `scripts/setup.sh` installs, with the readings and dead-letter topics.

use std::path::Path;

use ehr_testkit::kafka::{BrokerSecurity, Kafka};

pub use ehr_client::readings::{DEAD_LETTER_TOPIC as DEAD_LETTER, READINGS_TOPIC as READINGS};

/// Partitions of the readings topic: more than one, as a hospital would run
/// it, so that readings of different devices are consumed side by side.
pub const PARTITIONS: i32 = 4;

/// Brokers in the cluster: three, so that with every topic on all three and
/// two in sync, losing one loses nothing and stops nothing.
pub const BROKERS: usize = 3;

/// Starts a Kafka cluster in `dir` and creates the topics.
pub fn start(dir: &Path, security: BrokerSecurity) -> Result<Kafka, crate::Error> {
    let kafka = Kafka::start_cluster(dir, security, BROKERS)?;
    kafka.create_topics(&[READINGS], PARTITIONS)?;
    kafka.create_topics(&[DEAD_LETTER], 1)?;
    Ok(kafka)
}
