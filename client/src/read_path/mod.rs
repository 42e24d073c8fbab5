//! The read path, shared by the record gateway and its clients: how a request
//! is signed, what the gateway answers, a client for it, and how a reader opens
//! a record — unwrap the key, decrypt, check the device's signature and the
//! record's Merkle path against the batch anchor on chain — and exports it as
//! HL7 FHIR R4.

pub mod api;
pub mod audit;
pub mod client;
pub mod demographics;
pub mod documents;
pub mod open;
pub mod readers;
pub mod request_auth;
pub mod verified;
