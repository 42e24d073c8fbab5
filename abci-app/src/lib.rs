//! ehr-ledger: the consortium ledger for electronic health records.
//!
//! - `crypto`: keys, addresses, signatures.
//! - `tx`: the signed transaction envelope and its stateless checks.
//! - `ledger`: the state machine — identities, roles, consent, clinical rules,
//!   anchors, audit — and its queries.
//! - `storage`: the crash-safe authenticated store (redb + Jellyfish Merkle tree).
//! - `read_path`: what the record gateway and its clients share — signed
//!   requests, the API, opening and verifying a record, FHIR export.
//! - `mock_consensus`: drives the ledger block by block without CometBFT, for
//!   tests, benchmarks and demos.

pub mod abci;
pub mod crypto;
pub mod keyring;
pub mod ledger;
pub mod mock_consensus;
pub mod proto;
pub mod read_path;
pub mod refusal;
pub mod rpc;
pub mod sequencer;
pub mod service;
pub mod storage;
pub mod tx;
pub mod vitals;

pub use refusal::{Code, Refusal};
