//! ehr-ledger: the deterministic core of the consortium ledger for electronic
//! health records — what every validator must compute identically. No
//! network, no async runtime, no wall clock: blocks in, state and app hash out.
//!
//! - `crypto`: keys, addresses, signatures, Merkle trees.
//! - `tx`: the signed transaction envelope and its stateless checks.
//! - `ledger`: the state machine — identities, roles, consent, clinical rules,
//!   anchors, audit — and its queries.
//! - `storage`: the crash-safe authenticated store (redb + Jellyfish Merkle tree).
//! - `proto`: the protobuf messages (transactions, state, device readings).
//! - `time`: CometBFT's RFC 3339 times and unix seconds.
//! - `mock_consensus`: drives the ledger block by block without CometBFT, for
//!   tests, benchmarks and demos.
//!
//! The node that serves it to CometBFT is `ehr-node` (abci-app/node); what
//! clients share (RPC, the read path, record encryption) is `ehr-client`.

pub mod crypto;
pub mod ledger;
pub mod mock_consensus;
pub mod proto;
pub mod refusal;
pub mod storage;
pub mod time;
pub mod tx;

pub use refusal::{Code, Refusal};
