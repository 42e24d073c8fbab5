//! Envelope encryption of health records: each record is encrypted with its
//! own random data key (AES-256-GCM), and the data key is wrapped for each
//! reader with ECIES on secp256k1 (ECDH → HKDF-SHA256 → AES-256-GCM). Only
//! ciphertext and wrapped keys are ever stored; docs/ingest.md gives the byte
//! layout so that any client can decrypt.
//!
//! Record blob:  0x01 ‖ nonce (12) ‖ AES-256-GCM(key, nonce, plaintext, aad = "ehr-record-v1" ‖ record_id)
//! Wrapped key:  0x01 ‖ E (33, compressed ephemeral public key) ‖ AES-256-GCM(k, n, data key, aad = "ehr-wrap-v1" ‖ record_id)
//!               where k ‖ n = HKDF-SHA256(ikm = x(e·P), salt = E ‖ P, info = "ehr-ledger key wrap v1"), 32 + 12 bytes
//! Binding the record id into both authenticates which record a blob or a wrap
//! belongs to: neither can be moved to another record.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;

use ehr_ledger::crypto::{PublicKey, SecretKey};

const VERSION: u8 = 1;
const RECORD_AAD: &[u8] = b"ehr-record-v1";
const WRAP_AAD: &[u8] = b"ehr-wrap-v1";
const WRAP_INFO: &[u8] = b"ehr-ledger key wrap v1";
pub const WRAPPED_KEY_LEN: usize = 1 + 33 + 32 + 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("the blob is too short or not of a known version")]
    Malformed,
    #[error("decryption failed: the ciphertext or key was altered, or it belongs to another record or reader")]
    Authentication,
}

/// A record's data key. Not printable; zeroed when dropped.
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).expect("the operating system provides randomness");
        Self(k)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

fn aad(prefix: &[u8], record_id: &str) -> Vec<u8> {
    [prefix, record_id.as_bytes()].concat()
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system provides randomness");
    b
}

pub fn encrypt_record(key: &DataKey, record_id: &str, plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; 12] = random();
    let cipher = cipher(&key.0);
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad(RECORD_AAD, record_id),
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    [&[VERSION][..], &nonce, &ct].concat()
}

pub fn decrypt_record(
    key: &DataKey,
    record_id: &str,
    blob: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    if blob.len() < 1 + 12 + 16 || blob[0] != VERSION {
        return Err(EnvelopeError::Malformed);
    }
    let cipher = cipher(&key.0);
    cipher
        .decrypt(
            &Nonce::from(<[u8; 12]>::try_from(&blob[1..13]).map_err(|_| EnvelopeError::Malformed)?),
            Payload {
                msg: &blob[13..],
                aad: &aad(RECORD_AAD, record_id),
            },
        )
        .map_err(|_| EnvelopeError::Authentication)
}

/// The wrap key and nonce shared by the ephemeral and the reader's key.
fn wrap_cipher(
    shared_x: &[u8],
    ephemeral: &[u8; 33],
    recipient: &[u8; 33],
) -> (Aes256Gcm, [u8; 12]) {
    let salt = [&ephemeral[..], &recipient[..]].concat();
    let hk = Hkdf::<sha2::Sha256>::new(Some(&salt), shared_x);
    let mut okm = [0u8; 44];
    hk.expand(WRAP_INFO, &mut okm)
        .expect("44 bytes is a valid HKDF-SHA256 length");
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    let mut k = [0u8; 32];
    k.copy_from_slice(&okm[..32]);
    (cipher(&k), nonce)
}

/// Wraps `key` for the holder of `recipient`'s secret key.
pub fn wrap_key(recipient: &PublicKey, record_id: &str, key: &DataKey) -> Vec<u8> {
    wrap_key_with(&SecretKey::generate(), recipient, record_id, key)
}

/// The same with a chosen ephemeral key: for known-answer tests only.
pub fn wrap_key_with(
    ephemeral: &SecretKey,
    recipient: &PublicKey,
    record_id: &str,
    key: &DataKey,
) -> Vec<u8> {
    let e_pub = ephemeral.public_key().to_bytes();
    let shared = ephemeral.diffie_hellman(recipient);
    let (cipher, nonce) = wrap_cipher(shared.raw_secret_bytes(), &e_pub, &recipient.to_bytes());
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &key.0,
                aad: &aad(WRAP_AAD, record_id),
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    [&[VERSION][..], &e_pub, &ct].concat()
}

pub fn unwrap_key(
    secret: &SecretKey,
    record_id: &str,
    wrapped: &[u8],
) -> Result<DataKey, EnvelopeError> {
    if wrapped.len() != WRAPPED_KEY_LEN || wrapped[0] != VERSION {
        return Err(EnvelopeError::Malformed);
    }
    let e_pub = PublicKey::from_bytes(&wrapped[1..34]).ok_or(EnvelopeError::Malformed)?;
    let shared = secret.diffie_hellman(&e_pub);
    let (cipher, nonce) = wrap_cipher(
        shared.raw_secret_bytes(),
        &e_pub.to_bytes(),
        &secret.public_key().to_bytes(),
    );
    let key = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &wrapped[34..],
                aad: &aad(WRAP_AAD, record_id),
            },
        )
        .map_err(|_| EnvelopeError::Authentication)?;
    let key: [u8; 32] = key.try_into().map_err(|_| EnvelopeError::Malformed)?;
    Ok(DataKey(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_for_each_reader_it_was_wrapped_for() {
        let (patient, doctor, stranger) = (
            SecretKey::from_seed("patient"),
            SecretKey::from_seed("doctor"),
            SecretKey::from_seed("stranger"),
        );
        let key = DataKey::generate();
        let blob = encrypt_record(&key, "rec-1", b"heart rate 72 /min");
        for reader in [&patient, &doctor] {
            let wrapped = wrap_key(&reader.public_key(), "rec-1", &key);
            assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
            let k = unwrap_key(reader, "rec-1", &wrapped).unwrap();
            assert_eq!(
                decrypt_record(&k, "rec-1", &blob).unwrap(),
                b"heart rate 72 /min"
            );
            assert_eq!(
                unwrap_key(&stranger, "rec-1", &wrapped).err(),
                Some(EnvelopeError::Authentication)
            );
            assert_eq!(
                unwrap_key(reader, "rec-2", &wrapped).err(),
                Some(EnvelopeError::Authentication)
            );
        }
    }

    #[test]
    fn altered_or_moved_ciphertext_does_not_decrypt() {
        let key = DataKey::generate();
        let blob = encrypt_record(&key, "rec-1", b"glucose 5.4 mmol/L");
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(decrypt_record(&key, "rec-1", &bad).is_err(), "byte {i}");
        }
        assert_eq!(
            decrypt_record(&key, "rec-2", &blob).err(),
            Some(EnvelopeError::Authentication)
        );
        assert_eq!(
            decrypt_record(&key, "rec-1", &blob[..20]).err(),
            Some(EnvelopeError::Malformed)
        );
        assert_eq!(
            decrypt_record(&DataKey::generate(), "rec-1", &blob).err(),
            Some(EnvelopeError::Authentication)
        );
    }

    #[test]
    fn encryption_is_randomised() {
        let key = DataKey::generate();
        assert_ne!(
            encrypt_record(&key, "r", b"x"),
            encrypt_record(&key, "r", b"x")
        );
        let p = SecretKey::from_seed("p").public_key();
        assert_ne!(wrap_key(&p, "r", &key), wrap_key(&p, "r", &key));
    }

    /// The known-answer vector of docs/ingest.md: another implementation of the
    /// format must produce exactly these bytes.
    #[test]
    fn the_documented_wrap_vector_holds() {
        let ephemeral = SecretKey::from_seed("ephemeral");
        let reader = SecretKey::from_seed("reader");
        let key = DataKey::from_bytes([0x42; 32]);
        let wrapped = wrap_key_with(&ephemeral, &reader.public_key(), "rec-1", &key);
        assert_eq!(
            hex::encode(&wrapped),
            include_str!("../tests/vectors/wrap-v1.hex").trim()
        );
        assert_eq!(
            unwrap_key(&reader, "rec-1", &wrapped).unwrap().as_bytes(),
            &[0x42; 32]
        );
    }
}
