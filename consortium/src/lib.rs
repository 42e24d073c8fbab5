//! The main job (`ehr-consortium`, started by `scripts/run.sh`): a local
//! consortium of four hospitals doing real work, every part a real process.
//!
//! - `chain`: four CometBFT validators, each with its own `ehr-node start`
//!   (or, with `--chain dev`, the dev sequencer `ehr-node dev`).
//! - `broker`: Apache Kafka and its topics.
//! - `services`: `ehr-ingest` and `ehr-gateway`.
//! - `fleet`: simulated IoMT devices publishing signed readings.
//! - `story`: the clinical story, each step with the code it must get.
//! - `progress`: the live line and the final summary's figures.
//!
//! The engines and the child processes themselves come from `ehr-testkit`
//! (the `tests/` folder), shared with the tests.

pub mod broker;
pub mod chain;
pub mod fleet;
pub mod progress;
pub mod services;
pub mod story;
