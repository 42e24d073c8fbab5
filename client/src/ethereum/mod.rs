//! Ethereum, as far as the consortium's checkpoints need it: keccak-256, an
//! account's address from a secp256k1 key, the contract ABI's encoding,
//! signed transactions (legacy, EIP-155) and a JSON-RPC client.
//!
//! An actor's key is already a secp256k1 key, so a member's key is also an
//! Ethereum account: it signs checkpoints the contract recovers with
//! `ecrecover`, and it pays for the transactions that write them.

pub mod abi;
pub mod checkpoints;
pub mod client;
mod rlp;
pub mod watch;

use std::fmt;
use std::str::FromStr;

use ehr_ledger::crypto::PublicKey;

pub use client::{BlockRef, BlockTag, EthClient, EthError, Receipt};

pub use ehr_ledger::crypto::checkpoint::keccak256;

/// An Ethereum account: the last 20 bytes of keccak-256 over the key's
/// uncompressed point (without its 0x04 prefix).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthAddress(pub [u8; 20]);

impl EthAddress {
    pub fn of(key: &PublicKey) -> Self {
        let point = key.verifying_key().to_sec1_point(false);
        let digest = keccak256(&point.as_bytes()[1..]);
        let mut a = [0u8; 20];
        a.copy_from_slice(&digest[12..]);
        Self(a)
    }
}

impl fmt::Display for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for EthAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("0x").unwrap_or(s);
        hex::decode(digits)
            .ok()
            .and_then(|b| <[u8; 20]>::try_from(b).ok())
            .map(Self)
            .ok_or_else(|| format!("{s} is not an Ethereum address (0x and 40 hex digits)"))
    }
}

/// Parses a 0x-prefixed hex quantity (a JSON-RPC number).
pub(crate) fn quantity(s: &str) -> Option<u128> {
    u128::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// Parses 0x-prefixed hex data.
pub(crate) fn data(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.strip_prefix("0x")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehr_ledger::crypto::SecretKey;

    #[test]
    fn an_address_is_derived_as_ethereum_derives_it() {
        // The secret key 1: its public key is the generator, whose account is
        // well known (0x7e5f4552091a69125d5dfcb7b8c2659029395bdf).
        let mut one = [0u8; 32];
        one[31] = 1;
        let key = SecretKey::from_bytes(&one).unwrap();
        assert_eq!(
            EthAddress::of(&key.public_key()).to_string(),
            "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"
        );
    }

    #[test]
    fn keccak_is_not_sha3() {
        // keccak256("") as Ethereum uses it, not FIPS-202 SHA3-256.
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn a_recoverable_signature_recovers_its_signer() {
        let key = SecretKey::from_seed("checkpoint signer");
        let digest = keccak256(b"a checkpoint");
        let sig = key.sign_recoverable(&digest);
        let signature = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
        assert!(signature.normalize_s() == signature, "low S");
        let id = k256::ecdsa::RecoveryId::from_byte(sig[64]).unwrap();
        let recovered =
            k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &signature, id).unwrap();
        assert_eq!(&recovered, key.public_key().verifying_key());
    }
}
