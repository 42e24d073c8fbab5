//! Transactions: the signed envelope and its stateless checks.
//!
//! Checks split as in penumbra: everything here needs no state (decoding, the
//! signature, the chain id, field shapes) and runs in CheckTx, ProcessProposal
//! and FinalizeBlock alike; the rules that read state live in `ledger`.

mod cache;
mod envelope;
mod ucum;
pub mod validate;

pub use cache::SignatureCache;
pub(crate) use envelope::lock;
pub use envelope::{
    action_name, decode_and_verify, decode_and_verify_all, decode_and_verify_hashed, sign_tx,
    VerifiedTx, MAX_TX_BYTES,
};
pub use validate::{
    validate_action, MAX_DISCLOSURES_PER_TX, MAX_JUSTIFICATION_CHARS,
    MAX_RECORD_IDS_PER_DISCLOSURE, MAX_VALIDATOR_POWER,
};
