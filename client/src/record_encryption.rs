//! Envelope encryption of health records: each record is its own AES-256-GCM
//! message under a random data key, and the data key is wrapped for each
//! reader with ECIES on secp256k1 (ECDH → HKDF-SHA256 → AES-256-GCM). Only
//! ciphertext and wrapped keys are ever stored; docs/ingest.md gives the byte
//! layout so that any client can decrypt.
//!
//! Record blob:  0x01 ‖ nonce (12) ‖ AES-256-GCM(key, nonce, plaintext, aad = "ehr-record-v1" ‖ record_id)
//! Wrapped key, version 2 (written today):
//!               0x02 ‖ E (33, compressed ephemeral public key) ‖ AES-256-GCM(k, n, data key, aad = "ehr-wrap-v2" ‖ key_id)
//!               where k ‖ n = HKDF-SHA256(ikm = x(e·P), salt = E ‖ P, info = "ehr-ledger key wrap v2"), 32 + 12 bytes
//! Version 1 (still opened) is the same with "v1" in both labels and the
//! record id in place of the key id: one key per record.
//!
//! A data key has a key id. A key of its own record has the record's id; a
//! key that ingest shares among a patient's readings of one batch has a
//! fresh id of its own ([`fresh_key_id`]). The record id in the blob's AAD
//! binds a blob to its record, the key id in the wrap's AAD binds a wrap to
//! its key: neither can be moved. A shared key never encrypts two messages
//! under one nonce: each record draws its own 96-bit nonce at random, and a
//! key serves at most one batch (thousands of records, far below the 2^32
//! messages random nonces allow per key).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;

use ehr_ledger::crypto::{PublicKey, SecretKey};

const RECORD_VERSION: u8 = 1;
const RECORD_AAD: &[u8] = b"ehr-record-v1";
pub const WRAPPED_KEY_LEN: usize = 1 + 33 + 32 + 16;

/// A wrap format: its version byte and the labels that separate it from the others.
struct WrapFormat {
    version: u8,
    aad: &'static [u8],
    info: &'static [u8],
}

/// One key per record, bound to the record id: opened, no longer written.
const WRAP_V1: WrapFormat = WrapFormat {
    version: 1,
    aad: b"ehr-wrap-v1",
    info: b"ehr-ledger key wrap v1",
};
/// A key bound to its key id, which may serve several records.
const WRAP_V2: WrapFormat = WrapFormat {
    version: 2,
    aad: b"ehr-wrap-v2",
    info: b"ehr-ledger key wrap v2",
};

fn wrap_format(version: u8) -> Option<&'static WrapFormat> {
    [&WRAP_V1, &WRAP_V2]
        .into_iter()
        .find(|f| f.version == version)
}

/// A new id for a key shared by several records: "k-" and 32 random hex
/// digits. Record ids never look like it (they hold a `:`).
pub fn fresh_key_id() -> String {
    format!("k-{}", hex::encode(random::<16>()))
}

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
    [&[RECORD_VERSION][..], &nonce, &ct].concat()
}

pub fn decrypt_record(
    key: &DataKey,
    record_id: &str,
    blob: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    if blob.len() < 1 + 12 + 16 || blob[0] != RECORD_VERSION {
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
    format: &WrapFormat,
    shared_x: &[u8],
    ephemeral: &[u8; 33],
    recipient: &[u8; 33],
) -> (Aes256Gcm, [u8; 12]) {
    let salt = [&ephemeral[..], &recipient[..]].concat();
    let hk = Hkdf::<sha2::Sha256>::new(Some(&salt), shared_x);
    let mut okm = [0u8; 44];
    hk.expand(format.info, &mut okm)
        .expect("44 bytes is a valid HKDF-SHA256 length");
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    let mut k = [0u8; 32];
    k.copy_from_slice(&okm[..32]);
    (cipher(&k), nonce)
}

/// Wraps `key`, whose id is `key_id`, for the holder of `recipient`'s
/// secret key (version 2).
pub fn wrap_key(recipient: &PublicKey, key_id: &str, key: &DataKey) -> Vec<u8> {
    seal_wrap(&WRAP_V2, &SecretKey::generate(), recipient, key_id, key)
}

/// The same with a chosen ephemeral key: for known-answer tests only.
pub fn wrap_key_with(
    ephemeral: &SecretKey,
    recipient: &PublicKey,
    key_id: &str,
    key: &DataKey,
) -> Vec<u8> {
    seal_wrap(&WRAP_V2, ephemeral, recipient, key_id, key)
}

fn seal_wrap(
    format: &WrapFormat,
    ephemeral: &SecretKey,
    recipient: &PublicKey,
    key_id: &str,
    key: &DataKey,
) -> Vec<u8> {
    let e_pub = ephemeral.public_key().to_bytes();
    let shared = ephemeral.diffie_hellman(recipient);
    let (cipher, nonce) = wrap_cipher(
        format,
        shared.raw_secret_bytes(),
        &e_pub,
        &recipient.to_bytes(),
    );
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &key.0,
                aad: &aad(format.aad, key_id),
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    [&[format.version][..], &e_pub, &ct].concat()
}

/// Opens a wrap of either version. `key_id` is the id the key was wrapped
/// under: for a version-1 wrap, the record's id.
pub fn unwrap_key(
    secret: &SecretKey,
    key_id: &str,
    wrapped: &[u8],
) -> Result<DataKey, EnvelopeError> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let format = wrap_format(wrapped[0]).ok_or(EnvelopeError::Malformed)?;
    let e_pub = PublicKey::from_bytes(&wrapped[1..34]).ok_or(EnvelopeError::Malformed)?;
    let shared = secret.diffie_hellman(&e_pub);
    let (cipher, nonce) = wrap_cipher(
        format,
        shared.raw_secret_bytes(),
        &e_pub.to_bytes(),
        &secret.public_key().to_bytes(),
    );
    let key = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &wrapped[34..],
                aad: &aad(format.aad, key_id),
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

    /// A record's ciphertext as another implementation (the portal's) wrote
    /// it, with the data key 0x42 × 32 and nonce 01…0c: it opens here, to
    /// its plaintext, for its own record only.
    #[test]
    fn the_documented_record_vector_opens() {
        let key = DataKey::from_bytes([0x42; 32]);
        let blob = hex::decode(include_str!("../tests/vectors/record-v1.hex").trim()).unwrap();
        assert_eq!(
            decrypt_record(&key, "dev-1:42", &blob).unwrap(),
            br#"{"value":72}"#
        );
        assert!(decrypt_record(&key, "dev-1:43", &blob).is_err());
        assert_eq!(blob, {
            // The same bytes as this implementation writes with that nonce.
            let ct = cipher(&key.0)
                .encrypt(
                    &Nonce::from(<[u8; 12]>::try_from(&blob[1..13]).unwrap()),
                    Payload {
                        msg: br#"{"value":72}"#,
                        aad: &aad(RECORD_AAD, "dev-1:42"),
                    },
                )
                .unwrap();
            [&[RECORD_VERSION][..], &blob[1..13], &ct].concat()
        });
    }

    /// The known-answer vectors of docs/ingest.md: another implementation of
    /// the format must produce exactly these bytes, and both versions open.
    #[test]
    fn the_documented_wrap_vectors_hold() {
        let ephemeral = SecretKey::from_seed("ephemeral");
        let reader = SecretKey::from_seed("reader");
        let key = DataKey::from_bytes([0x42; 32]);
        let cases = [
            (
                &WRAP_V1,
                "rec-1",
                include_str!("../tests/vectors/wrap-v1.hex"),
            ),
            (
                &WRAP_V2,
                "k-000102030405060708090a0b0c0d0e0f",
                include_str!("../tests/vectors/wrap-v2.hex"),
            ),
        ];
        for (format, key_id, vector) in cases {
            let wrapped = seal_wrap(format, &ephemeral, &reader.public_key(), key_id, &key);
            assert_eq!(hex::encode(&wrapped), vector.trim());
            assert_eq!(
                unwrap_key(&reader, key_id, &wrapped).unwrap().as_bytes(),
                &[0x42; 32]
            );
        }
        assert_eq!(
            wrap_key_with(&ephemeral, &reader.public_key(), cases[1].1, &key),
            hex::decode(cases[1].2.trim()).unwrap(),
            "wrap_key writes version 2"
        );
    }

    /// A v1 wrap cannot pass for a v2 wrap of a key id equal to its record id,
    /// nor the other way round: the labels differ, and so does the version byte.
    #[test]
    fn a_wrap_does_not_open_under_the_other_version() {
        let reader = SecretKey::from_seed("reader");
        let key = DataKey::from_bytes([7; 32]);
        let eph = SecretKey::from_seed("e");
        for (format, other) in [(&WRAP_V1, 2u8), (&WRAP_V2, 1u8)] {
            let mut wrapped = seal_wrap(format, &eph, &reader.public_key(), "rec-1", &key);
            assert!(unwrap_key(&reader, "rec-1", &wrapped).is_ok());
            wrapped[0] = other;
            assert_eq!(
                unwrap_key(&reader, "rec-1", &wrapped).err(),
                Some(EnvelopeError::Authentication)
            );
            wrapped[0] = 3;
            assert_eq!(
                unwrap_key(&reader, "rec-1", &wrapped).err(),
                Some(EnvelopeError::Malformed)
            );
        }
    }

    #[test]
    fn one_shared_key_encrypts_each_record_apart() {
        let key = DataKey::generate();
        let key_id = fresh_key_id();
        assert!(key_id.starts_with("k-") && key_id.len() == 34 && !key_id.contains(':'));
        let a = encrypt_record(&key, "hr-1:1", b"72");
        let b = encrypt_record(&key, "hr-1:2", b"72");
        assert_ne!(a[1..13], b[1..13], "each record draws its own nonce");
        let reader = SecretKey::from_seed("reader");
        let opened = unwrap_key(
            &reader,
            &key_id,
            &wrap_key(&reader.public_key(), &key_id, &key),
        )
        .unwrap();
        assert_eq!(decrypt_record(&opened, "hr-1:1", &a).unwrap(), b"72");
        assert_eq!(decrypt_record(&opened, "hr-1:2", &b).unwrap(), b"72");
        assert_eq!(
            decrypt_record(&opened, "hr-1:2", &a).err(),
            Some(EnvelopeError::Authentication),
            "a blob stays bound to its record"
        );
    }
}
