//! ehr-client: what the processes around the chain share — the command-line
//! client `ehr`, ingest, the gateway and the main job.
//!
//! - `rpc`: the client of CometBFT's RPC (and of the dev sequencer's), with
//!   light-client verification of block headers (`rpc::light`).
//! - `record_encryption`: health records under AES-256-GCM data keys, wrapped
//!   for each reader with ECIES on secp256k1.
//! - `read_path`: signed gateway requests, the gateway's API types and client,
//!   opening and verifying a record, sealed documents, HL7 FHIR R4 export.
//! - `readings`: a device's signed reading, as protobuf or JSON.
//! - `enrollment`: a member's admin enrolling patients' keys.
//! - `keyring`: local key files by name.
//! - `ethereum`: the consortium's state checkpointed on Ethereum: signing,
//!   writing and verifying checkpoints (contracts/ConsortiumCheckpoints.sol).
//! - `vitals`: the LOINC measurements and their plausible ranges.
//! - `service`: logging, the stop signal and key files of long-running processes.

pub mod codes;
pub mod enrollment;
pub mod erasures;
pub mod ethereum;
pub mod fhir;
pub mod keyring;
pub mod read_path;
pub mod readings;
pub mod record_encryption;
pub mod rpc;
pub mod service;
pub mod vitals;
