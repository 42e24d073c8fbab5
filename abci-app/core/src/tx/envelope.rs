use std::sync::Mutex;

use prost::Message;
use rayon::prelude::*;

use crate::crypto::{sha256, verify_signature, Address, PublicKey, SecretKey};
use crate::proto::{action::Kind, Action, SignedTx, TxBody};
use crate::refusal::{refuse, Code, Refusal};

use super::cache::SignatureCache;
use super::validate::{checkpoint_signature, validate_action};

/// The largest transaction the ledger accepts, in bytes.
pub const MAX_TX_BYTES: usize = 64 * 1024;

/// A transaction whose envelope, signature, chain id and fields were checked.
#[derive(Clone, Debug)]
pub struct VerifiedTx {
    /// SHA-256 of the transaction bytes (CometBFT's transaction hash).
    pub hash: [u8; 32],
    pub signer: Address,
    pub public_key: PublicKey,
    pub nonce: u64,
    pub action: Kind,
}

/// Decodes and verifies a transaction without reading state.
pub fn decode_and_verify(bytes: &[u8], chain_id: &str) -> Result<VerifiedTx, Refusal> {
    decode_and_check_known(bytes, sha256(bytes), chain_id, None)
}

/// Decodes and verifies the transactions of a block, signatures on every
/// core. Each result depends only on its bytes and the chain id, never on
/// which thread ran first, so every node gets the same results in the same
/// order. Signatures in `cache` are skipped; the ones verified here are added.
pub fn decode_and_verify_all<T: AsRef<[u8]> + Sync>(
    txs: &[T],
    chain_id: &str,
    cache: &Mutex<SignatureCache>,
) -> Vec<Result<VerifiedTx, Refusal>> {
    let hashes: Vec<[u8; 32]> = txs.iter().map(|t| sha256(t.as_ref())).collect();
    decode_and_verify_hashed(txs, &hashes, chain_id, cache)
}

/// The same, for a caller that already holds each transaction's SHA-256.
pub fn decode_and_verify_hashed<T: AsRef<[u8]> + Sync>(
    txs: &[T],
    hashes: &[[u8; 32]],
    chain_id: &str,
    cache: &Mutex<SignatureCache>,
) -> Vec<Result<VerifiedTx, Refusal>> {
    let known: Vec<Option<PublicKey>> = {
        let cache = lock(cache);
        hashes.iter().map(|h| cache.signer(h)).collect()
    };
    let fresh: Vec<bool> = known.iter().map(Option::is_none).collect();
    let results: Vec<Result<VerifiedTx, Refusal>> = txs
        .par_iter()
        .zip(hashes.par_iter().zip(known.into_par_iter()))
        .map(|(bytes, (hash, known))| {
            decode_and_check_known(bytes.as_ref(), *hash, chain_id, known)
        })
        .collect();
    let mut cache = lock(cache);
    for (r, fresh) in results.iter().zip(fresh) {
        if let (Ok(tx), true) = (r, fresh) {
            cache.insert(tx.hash, tx.public_key.clone());
        }
    }
    results
}

/// A poisoned lock is taken over: the cache only ever holds hashes of
/// verified bytes, whatever a panicking thread left half done.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The stateless checks; the public key and the signature only when the
/// signer of these very bytes is not `known` (from the cache).
fn decode_and_check_known(
    bytes: &[u8],
    hash: [u8; 32],
    chain_id: &str,
    known: Option<PublicKey>,
) -> Result<VerifiedTx, Refusal> {
    if bytes.len() > MAX_TX_BYTES {
        return refuse(
            Code::TxTooLarge,
            format!(
                "the transaction is {} bytes; the limit is {MAX_TX_BYTES}",
                bytes.len()
            ),
        );
    }
    let envelope = SignedTx::decode(bytes).map_err(|e| {
        Refusal::new(
            Code::TxMalformed,
            format!("the bytes are not a SignedTx envelope: {e}"),
        )
    })?;
    // One encoding per transaction: a decoder accepts unknown, repeated or
    // reordered fields, and such a re-encoding would keep a valid signature
    // under another hash (which the services track transactions by).
    if envelope.encode_to_vec() != bytes {
        return refuse(
            Code::TxMalformed,
            "the envelope is not in its canonical protobuf encoding (fields in order, each once, no unknown fields, no default values): send it as it was signed and encoded".to_string(),
        );
    }
    let public_key = match known {
        Some(key) => key,
        None => {
            let key = PublicKey::from_bytes(&envelope.public_key).ok_or_else(|| {
                Refusal::new(
                    Code::BadPublicKey,
                    format!(
                        "the public key must be a 33-byte compressed secp256k1 point; got {} bytes that are not one",
                        envelope.public_key.len()
                    ),
                )
            })?;
            verify_signature(&key, &envelope.body, &envelope.signature)
                .map_err(|e| Refusal::new(Code::BadSignature, e.to_string()))?;
            key
        }
    };
    let body = TxBody::decode(envelope.body.as_slice()).map_err(|e| {
        Refusal::new(
            Code::BodyMalformed,
            format!("the signed body is not a TxBody: {e}"),
        )
    })?;
    if body.encode_to_vec() != envelope.body {
        return refuse(
            Code::BodyMalformed,
            "the signed body is not in its canonical protobuf encoding (fields in order, each once, no unknown fields, no default values): sign the body as protobuf encodes it".to_string(),
        );
    }
    if body.chain_id != chain_id {
        return refuse(
            Code::WrongChainId,
            format!(
                "the transaction is for chain {:?}, this is chain {chain_id:?}",
                body.chain_id
            ),
        );
    }
    let action = body
        .action
        .and_then(|a| a.kind)
        .ok_or_else(|| Refusal::new(Code::NoAction, "the transaction body carries no action"))?;
    validate_action(&action)?;
    if let Kind::AttestCheckpoint(a) = &action {
        checkpoint_signature(a, &body.chain_id, &public_key)?;
    }
    Ok(VerifiedTx {
        hash,
        signer: public_key.address(),
        public_key,
        nonce: body.nonce,
        action,
    })
}

/// Builds and signs a transaction.
pub fn sign_tx(key: &SecretKey, chain_id: &str, nonce: u64, action: Kind) -> Vec<u8> {
    let body = TxBody {
        chain_id: chain_id.to_string(),
        nonce,
        action: Some(Action { kind: Some(action) }),
    }
    .encode_to_vec();
    let signature = key.sign(&body);
    SignedTx {
        body,
        public_key: key.public_key().to_bytes().to_vec(),
        signature: signature.to_vec(),
    }
    .encode_to_vec()
}

/// The action's name in events and docs, e.g. "grant_access".
pub fn action_name(action: &Kind) -> &'static str {
    match action {
        Kind::Propose(_) => "propose",
        Kind::Vote(_) => "vote",
        Kind::RegisterStaff(_) => "register_staff",
        Kind::RegisterService(_) => "register_service",
        Kind::Suspend(_) => "suspend",
        Kind::Reinstate(_) => "reinstate",
        Kind::RegisterPatient(_) => "register_patient",
        Kind::SetGuardian(_) => "set_guardian",
        Kind::EnrollPatient(_) => "enroll_patient",
        Kind::BindDevice(_) => "bind_device",
        Kind::RevokeDevice(_) => "revoke_device",
        Kind::GrantAccess(_) => "grant_access",
        Kind::RevokeAccess(_) => "revoke_access",
        Kind::SetResearchConsent(_) => "set_research_consent",
        Kind::RequestAccess(_) => "request_access",
        Kind::DeclineAccessRequest(_) => "decline_access_request",
        Kind::RotateKey(_) => "rotate_key",
        Kind::SetRecoveryContacts(_) => "set_recovery_contacts",
        Kind::ApproveRecovery(_) => "approve_recovery",
        Kind::RequestAmendment(_) => "request_amendment",
        Kind::AcceptAmendment(_) => "accept_amendment",
        Kind::DenyAmendment(_) => "deny_amendment",
        Kind::FileDisagreement(_) => "file_disagreement",
        Kind::EraseRecords(_) => "erase_records",
        Kind::SetLegalHold(_) => "set_legal_hold",
        Kind::AttestCheckpoint(_) => "attest_checkpoint",
        Kind::OpenEmergencyAccess(_) => "open_emergency_access",
        Kind::OrderLabTest(_) => "order_lab_test",
        Kind::PostLabResult(_) => "post_lab_result",
        Kind::Prescribe(_) => "prescribe",
        Kind::Dispense(_) => "dispense",
        Kind::AnchorRecord(_) => "anchor_record",
        Kind::AnchorBatch(_) => "anchor_batch",
        Kind::LogDisclosures(_) => "log_disclosures",
    }
}
