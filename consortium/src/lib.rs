//! The main job (`ehr-consortium`, started by `scripts/run.sh`): a local
//! consortium of four hospitals doing real work, every part a real process.
//!
//! - `chain`: four CometBFT validators, each with its own `ehr-node start`
//!   (or, with `--chain dev`, the dev sequencer `ehr-node dev`).
//! - `broker`: Apache Kafka and its topics.
//! - `services`: `ehr-ingest` and `ehr-gateway`.
//! - `fleet`: simulated IoMT devices publishing signed readings.
//! - `story`: the clinical story, each step with the code it must get.
//! - `progress`: the live line and the figures, from PostgreSQL and the chain.
//! - `database`: the run's own database and its log-ins.
//! - `steady`: the work after the story — progress, ward rounds, wind-down.
//! - `chaos`: faults drawn from a seed, injected while it works, each
//!   one's recovery measured.
//! - `running`: every process started, stopped in order.
//! - `supervisor`: a part that died started again, with back-off, counted.
//! - `checks`: what the summary proves from the data, each check with why.
//! - `summary`: the account at the end, as JSON and in the terminal.
//!
//! The engines and the child processes themselves come from `ehr-testkit`
//! (the `tests/` folder), shared with the tests.

pub mod broker;
pub mod chain;
pub mod chaos;
pub mod checks;
pub mod database;
pub mod fleet;
pub mod progress;
pub mod running;
pub mod services;
pub mod steady;
pub mod story;
pub mod summary;
pub mod supervisor;

/// Why a part of the main job could not be started or set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] ehr_testkit::Error),
    #[error(transparent)]
    Keyring(#[from] ehr_client::keyring::KeyringError),
    #[error(transparent)]
    File(#[from] ehr_client::service::FileError),
    #[error(transparent)]
    Chain(#[from] ehr_client::rpc::RpcError),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} failed: {output}")]
    Command { what: String, output: String },
    #[error("no randomness: {0}")]
    Random(getrandom::Error),
    #[error("PostgreSQL: {}", ehr_migrations::db_message(.0))]
    Db(#[from] postgres::Error),
    #[error(transparent)]
    Schema(#[from] ehr_migrations::SchemaError),
    #[error("batch {0} is committed in PostgreSQL but its root is not on chain")]
    BatchNotOnChain(i64),
    #[error("{0}")]
    Invalid(String),
}
