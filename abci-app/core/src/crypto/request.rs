//! Signed requests to a gateway (docs/gateway.md): the one canonical form a
//! caller signs, checked by the gateway when it serves and by the ledger when
//! a gateway logs the disclosure that answered it — so a gateway can log
//! only reads someone actually asked it for.

use super::keys::{sha256, verify_signature, Address, PublicKey};
use crate::proto::SignedRequest;

/// What a caller signs: `"ehr-request-v2\n" AUDIENCE "\n" METHOD "\n"
/// PATH_AND_QUERY "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA-256(body))`.
pub fn canonical(
    audience: &str,
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    nonce: &str,
    body_sha256: &[u8],
) -> Vec<u8> {
    format!(
        "ehr-request-v2\n{audience}\n{}\n{path_and_query}\n{timestamp}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        hex::encode(body_sha256)
    )
    .into_bytes()
}

/// Why a signed request does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("its public key is not a secp256k1 key")]
    PublicKey,
    #[error("its signature does not verify with the caller's key ({0})")]
    Signature(String),
}

/// The caller's address and the SHA-256 of the canonical request, when the
/// signature verifies.
pub fn verify(r: &SignedRequest) -> Result<(Address, [u8; 32]), RequestError> {
    let key = PublicKey::from_bytes(&r.public_key).ok_or(RequestError::PublicKey)?;
    let message = canonical(
        &r.audience,
        &r.method,
        &r.path_and_query,
        &r.timestamp,
        &r.nonce,
        &r.body_sha256,
    );
    verify_signature(&key, &message, &r.signature)
        .map_err(|e| RequestError::Signature(e.to_string()))?;
    Ok((key.address(), sha256(&message)))
}
