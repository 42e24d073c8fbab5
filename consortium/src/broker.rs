//! The broker: Apache Kafka, from the jars `scripts/setup.sh` installs, with
//! the readings and dead-letter topics.

use std::path::Path;

use ehr_testkit::kafka::Kafka;

pub const READINGS: &str = "ehr.readings";
pub const DEAD_LETTER: &str = "ehr.readings.dead-letter";

/// Partitions of the readings topic: more than one, as a hospital would run
/// it, so that readings of different devices are consumed side by side.
pub const PARTITIONS: i32 = 4;

/// Starts Kafka in `dir` and creates the topics.
pub fn start(dir: &Path) -> Result<Kafka, String> {
    let kafka = Kafka::start(dir)?;
    kafka.create_topics(&[READINGS], PARTITIONS)?;
    kafka.create_topics(&[DEAD_LETTER], 1)?;
    Ok(kafka)
}
