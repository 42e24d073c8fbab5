//! What a member signs for the consortium's checkpoint on Ethereum: the
//! digest the contract (contracts/ConsortiumCheckpoints.sol,
//! `checkpointDigest`) rebuilds and checks with `ecrecover`. The ledger checks
//! the attestations members post to meet each other (`AttestCheckpoint`); the
//! client signs them and hands them to the contract. One definition for both.

use sha3::{Digest, Keccak256};

use super::PublicKey;

/// The domain of a checkpoint signature: no other message of a member's key
/// hashes to the same digest.
pub const CHECKPOINT_DOMAIN: &str = "ehr-ledger checkpoint v1";

pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}

/// What a signer signs for "after block `height` of `chain_id` the app hash
/// was `app_hash`": keccak-256 of `abi.encode(keccak256(domain),
/// keccak256(chain_id), height, app_hash)`, four 32-byte words.
pub fn checkpoint_digest(chain_id: &str, height: u64, app_hash: &[u8; 32]) -> [u8; 32] {
    let mut words = Vec::with_capacity(128);
    words.extend_from_slice(&keccak256(CHECKPOINT_DOMAIN.as_bytes()));
    words.extend_from_slice(&keccak256(chain_id.as_bytes()));
    words.extend_from_slice(&[0u8; 24]);
    words.extend_from_slice(&height.to_be_bytes());
    words.extend_from_slice(app_hash);
    keccak256(&words)
}

/// Why a recoverable signature names no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverError {
    /// v is neither 27 nor 28.
    BadV,
    /// s is in the upper half, which the contract refuses.
    HighS,
    /// r or s is out of range, or no point has them.
    NoKey,
}

impl std::fmt::Display for RecoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecoverError::BadV => "its last byte (v) must be 27 or 28",
            RecoverError::HighS => "its s is in the upper half, which ecrecover's callers refuse",
            RecoverError::NoKey => "no public key has this signature",
        })
    }
}

/// The key that made `sig` (r‖s‖v, v = 27 or 28, s low, as the contract
/// takes it) over `digest`.
pub fn recover(digest: &[u8; 32], sig: &[u8; 65]) -> Result<PublicKey, RecoverError> {
    let id = sig[64]
        .checked_sub(27)
        .and_then(k256::ecdsa::RecoveryId::from_byte)
        .filter(|id| !id.is_x_reduced())
        .ok_or(RecoverError::BadV)?;
    let signature =
        k256::ecdsa::Signature::from_slice(&sig[..64]).map_err(|_| RecoverError::NoKey)?;
    if signature.normalize_s() != signature {
        return Err(RecoverError::HighS);
    }
    let key = k256::ecdsa::VerifyingKey::recover_from_prehash(digest, &signature, id)
        .map_err(|_| RecoverError::NoKey)?;
    PublicKey::from_bytes(key.to_sec1_point(true).as_bytes()).ok_or(RecoverError::NoKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn a_signature_recovers_its_key_and_no_other_digest_does() {
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        let d = checkpoint_digest("ehr-test", 10, &[1; 32]);
        let mut sig = key.sign_recoverable(&d);
        sig[64] += 27;
        assert_eq!(recover(&d, &sig).unwrap(), key.public_key());
        let other = checkpoint_digest("ehr-test", 11, &[1; 32]);
        assert_ne!(recover(&other, &sig).ok(), Some(key.public_key()));
        let mut bad_v = sig;
        bad_v[64] = 1;
        assert_eq!(recover(&d, &bad_v), Err(RecoverError::BadV));
    }

    #[test]
    fn a_high_s_is_refused() {
        let key = SecretKey::from_bytes(&[9; 32]).unwrap();
        let d = checkpoint_digest("ehr-test", 3, &[2; 32]);
        let mut sig = key.sign_recoverable(&d);
        let s = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
        // (r, n − s) with v flipped is the same signature's high twin.
        let (r, s) = s.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        sig[..64].copy_from_slice(&high.to_bytes());
        sig[64] = 27 + (1 - sig[64]);
        assert_eq!(recover(&d, &sig), Err(RecoverError::HighS));
    }
}
