//! ehr-ingest: IoMT readings from Kafka, verified against the chain's device
//! registry, encrypted (AES-256-GCM, data keys wrapped with ECIES for the
//! patient and every current reader), stored in PostgreSQL, and anchored on
//! chain as Merkle roots. docs/ingest.md describes the formats and guarantees;
//! `startup` builds the service from its settings.

pub mod anchor;
pub mod archive;
pub mod consumer;
pub mod keyring;
pub mod metrics;
pub mod pipeline;
pub mod reading;
pub mod registry;
pub mod startup;
pub mod store;
pub mod withdrawals;
