//! ehr-gateway: the record gateway, the read path's server side.
//!
//! A request is signed by the caller's key (`auth`); the chain decides whether
//! the caller may read the patient's records now (`access`, by the ledger's own
//! rule over state proven against headers the validators signed); the records come
//! from the ingest store with the data key wrapped for the caller and each
//! record's Merkle path to its anchored batch root (`store`, `proofs`); every
//! answer is written to a disclosure outbox before it is sent, and logged on
//! chain in batches (`disclosures`); nothing is served while that log cannot
//! reach the chain (`standing`). `routes` is the HTTP surface; `startup`
//! builds the whole from its settings.

pub mod access;
pub mod auth;
pub mod disclosures;
pub mod erasures;
pub mod error;
pub mod identity;
pub mod limits;
pub mod proofs;
pub mod routes;
pub mod standing;
pub mod startup;
pub mod store;

use ehr_client::rpc::proven::ProvenState;
use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::SecretKey;

/// What every request handler shares.
pub struct Gateway {
    pub db: deadpool_postgres::Pool,
    pub rpc: RpcClient,
    /// The chain's state on proof: every access decision, every key the
    /// gateway opens and every disclosure it settles rests on it.
    pub chain: ProvenState,
    /// The gateway service's key: signs the disclosure log, and opens the
    /// break-glass escrow wraps (only under an open emergency access).
    pub key: SecretKey,
    pub proofs: proofs::Proofs,
    /// Disclosures waiting for the chain longer than this stop all serving.
    pub audit_lag_limit: std::time::Duration,
    pub standing: standing::Standing,
    /// The portal accepts log-in links (`#login=<key>`): a demonstration's
    /// gateway only (`--portal-demo-logins`).
    pub demo_logins: bool,
    /// How often one key, or one network address, may use the chain relay.
    pub relay_limits: limits::RelayLimits,
    /// How often one network address may look up the code directory.
    pub lookup_limits: limits::RelayLimits,
}
