//! Actor keys and addresses.
//!
//! Every actor is a secp256k1 key. Its address is the first 20 bytes of
//! SHA-256 over the 33-byte compressed SEC1 public key, written as bech32m with
//! the human-readable part `ehr` (a typo is caught by the checksum).
//!
//! Signatures are made with the `k256` crate and verified with Bitcoin Core's
//! libsecp256k1 (the `secp256k1` crate): verification is the costliest step
//! of every transaction and every device reading, and libsecp256k1 does it in
//! about half the time (docs/BENCHMARKS.md). Both follow the same standard
//! (ECDSA over SHA-256, 64-byte r‖s, low S), which the tests hold them to.

use std::fmt;
use std::str::FromStr;
use std::sync::{LazyLock, OnceLock};

use bech32::{Bech32m, Hrp};
use k256::ecdsa::signature::hazmat::PrehashSigner;
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

pub const ADDRESS_HRP: &str = "ehr";
pub const PUBLIC_KEY_LEN: usize = 33;
pub const SIGNATURE_LEN: usize = 64;

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 20]);

impl Address {
    pub fn from_public_key(key: &[u8; PUBLIC_KEY_LEN]) -> Self {
        let digest = sha256(key);
        let mut a = [0u8; 20];
        a.copy_from_slice(&digest[..20]);
        Self(a)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Lower-case hex, as used inside state keys.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse_unchecked(ADDRESS_HRP);
        match bech32::encode::<Bech32m>(hrp, &self.0) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "0x{}", self.hex()),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Address {
    type Err = String;

    /// Accepts the bech32m form (`ehr1…`) or 40 hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok((hrp, data)) = bech32::decode(s) {
            if hrp.as_str() != ADDRESS_HRP {
                return Err(format!("address {s} is not an ehr address (prefix {hrp})"));
            }
            return Address::from_slice(&data)
                .ok_or_else(|| format!("address {s} does not hold 20 bytes"));
        }
        let bytes = hex::decode(s.trim_start_matches("0x"))
            .map_err(|_| format!("{s} is neither an ehr1… address nor 40 hex digits"))?;
        Address::from_slice(&bytes).ok_or_else(|| format!("address {s} does not hold 20 bytes"))
    }
}

/// A validated secp256k1 public key.
/// A secp256k1 public key, checked to be on the curve.
#[derive(Clone)]
pub struct PublicKey {
    bytes: [u8; PUBLIC_KEY_LEN],
    /// The parsed point, for verification.
    point: secp256k1::PublicKey,
    /// The same point for `k256` (ECDH), made when first needed: most keys
    /// only ever verify a signature.
    k256: OnceLock<VerifyingKey>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

/// libsecp256k1's verification context (its tables are static; building it costs nothing).
static VERIFIER: LazyLock<secp256k1::Secp256k1<secp256k1::VerifyOnly>> =
    LazyLock::new(secp256k1::Secp256k1::verification_only);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; PUBLIC_KEY_LEN] = bytes.try_into().ok()?;
        let point = secp256k1::PublicKey::from_slice(&bytes).ok()?;
        Some(Self {
            bytes,
            point,
            k256: OnceLock::new(),
        })
    }

    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.bytes
    }

    pub fn address(&self) -> Address {
        Address::from_public_key(&self.bytes)
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        self.k256.get_or_init(|| {
            // Both libraries accept exactly the compressed encodings of the
            // curve's points, and libsecp256k1 accepted these bytes.
            VerifyingKey::from_sec1_bytes(&self.bytes)
                .expect("a point libsecp256k1 parsed is a point for k256 too")
        })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.bytes))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the signature must be {SIGNATURE_LEN} bytes (r||s), got {0}")]
    Length(usize),
    #[error("the signature is not a valid ECDSA signature encoding")]
    Encoding,
    #[error("the signature's s is in the upper half of the curve order; sign with low-S")]
    HighS,
    #[error("the signature does not match the public key and message")]
    Mismatch,
}

/// Verifies a 64-byte low-S ECDSA signature over SHA-256(`message`).
pub fn verify_signature(
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    if signature.len() != SIGNATURE_LEN {
        return Err(SignatureError::Length(signature.len()));
    }
    let sig = secp256k1::ecdsa::Signature::from_compact(signature)
        .map_err(|_| SignatureError::Encoding)?;
    // Reject malleable (high-S) encodings explicitly so the refusal says why.
    let mut low = sig;
    low.normalize_s();
    if low != sig {
        return Err(SignatureError::HighS);
    }
    let digest = secp256k1::Message::from_digest(sha256(message));
    VERIFIER
        .verify_ecdsa(digest, &sig, &key.point)
        .map_err(|_| SignatureError::Mismatch)
}

/// A secp256k1 secret key. Never printed: its Debug shows the address only.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    pub fn generate() -> Self {
        use k256::elliptic_curve::Generate;
        Self(SigningKey::generate())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        SigningKey::from_slice(bytes).ok().map(Self)
    }

    /// A key derived from a seed: for tests, benchmarks and demos only.
    pub fn from_seed(seed: &str) -> Self {
        let mut digest = sha256(seed.as_bytes());
        loop {
            if let Some(k) = Self::from_bytes(&digest) {
                return k;
            }
            digest = sha256(&digest);
        }
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// ECDH on secp256k1 with `peer`: the shared point's x-coordinate, the
    /// input keying material of a key wrap (ehr-client's record encryption).
    pub fn diffie_hellman(&self, peer: &PublicKey) -> k256::ecdh::SharedSecret {
        k256::elliptic_curve::ecdh::diffie_hellman(
            self.0.as_nonzero_scalar(),
            peer.verifying_key().as_affine(),
        )
    }

    pub fn public_key(&self) -> PublicKey {
        let key = *self.0.verifying_key();
        let mut bytes = [0u8; PUBLIC_KEY_LEN];
        bytes.copy_from_slice(key.to_sec1_point(true).as_bytes());
        let point = secp256k1::PublicKey::from_slice(&bytes)
            .expect("k256's own public key encodes a point on the curve");
        PublicKey {
            bytes,
            point,
            k256: OnceLock::from(key),
        }
    }

    pub fn address(&self) -> Address {
        self.public_key().address()
    }

    /// Signs a 32-byte digest the caller made (Ethereum's keccak-256 for a
    /// checkpoint) with its recovery id: r‖s‖v, low S, v = 0 or 1 (the
    /// parity of R's y), so a verifier can recover the key from the digest.
    pub fn sign_recoverable(&self, digest: &[u8; 32]) -> [u8; 65] {
        let (sig, id) = self.0.sign_prehash_recoverable(digest);
        // The ecdsa crate already returns the low s, the recovery id
        // flipped with it; an x reduced mod n (odds about 2^-127) has no v.
        debug_assert!(sig.normalize_s() == sig && !id.is_x_reduced());
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = u8::from(id.is_y_odd());
        out
    }

    /// Signs SHA-256(`message`); the result is 64 bytes r||s with low S.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let sig: Signature = self
            .0
            .sign_prehash(&sha256(message))
            .expect("a 32-byte prehash is always signable");
        sig.normalize_s().to_bytes().into()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(for {})", self.address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_is_detected() {
        let key = SecretKey::from_seed("alice");
        let sig = key.sign(b"body");
        assert_eq!(verify_signature(&key.public_key(), b"body", &sig), Ok(()));
        assert_eq!(
            verify_signature(&key.public_key(), b"bodY", &sig),
            Err(SignatureError::Mismatch)
        );
        let other = SecretKey::from_seed("bob");
        assert_eq!(
            verify_signature(&other.public_key(), b"body", &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn libsecp256k1_and_k256_agree_on_what_verifies() {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        for i in 0..200u32 {
            let key = SecretKey::from_seed(&format!("signer {i}"));
            let message = format!("message {i}").into_bytes();
            let mut sig = key.sign(&message);
            let k256_says = |sig: &[u8]| {
                Signature::from_slice(sig).is_ok_and(|s| {
                    key.public_key()
                        .verifying_key()
                        .verify_prehash(&sha256(&message), &s)
                        .is_ok()
                })
            };
            assert!(k256_says(&sig));
            assert_eq!(verify_signature(&key.public_key(), &message, &sig), Ok(()));
            // One bit anywhere: neither accepts it.
            sig[(i as usize * 7) % SIGNATURE_LEN] ^= 1 << (i % 8);
            assert!(!k256_says(&sig));
            assert!(verify_signature(&key.public_key(), &message, &sig).is_err());
        }
        let key = SecretKey::from_seed("zero");
        assert!(verify_signature(&key.public_key(), b"m", &[0u8; SIGNATURE_LEN]).is_err());
        assert!(verify_signature(&key.public_key(), b"m", &[0xffu8; SIGNATURE_LEN]).is_err());
    }

    #[test]
    fn a_key_parsed_from_bytes_is_the_same_key_for_ecdh() {
        let (a, b) = (SecretKey::from_seed("a"), SecretKey::from_seed("b"));
        let b_parsed = PublicKey::from_bytes(&b.public_key().to_bytes()).unwrap();
        assert_eq!(b_parsed, b.public_key());
        assert_eq!(
            a.diffie_hellman(&b_parsed).raw_secret_bytes(),
            b.diffie_hellman(&a.public_key()).raw_secret_bytes()
        );
    }

    #[test]
    fn high_s_signatures_are_refused() {
        let key = SecretKey::from_seed("alice");
        let sig = Signature::from_slice(&key.sign(b"body")).unwrap();
        // n - s is the malleated twin of a valid low-S signature.
        let (r, s) = sig.split_scalars();
        let high = Signature::from_scalars(r, -*s).unwrap();
        assert_eq!(
            verify_signature(&key.public_key(), b"body", &high.to_bytes()),
            Err(SignatureError::HighS)
        );
    }

    #[test]
    fn addresses_round_trip_through_bech32_and_hex() {
        let a = SecretKey::from_seed("alice").address();
        let s = a.to_string();
        assert!(s.starts_with("ehr1"), "{s}");
        assert_eq!(s.parse::<Address>(), Ok(a));
        assert_eq!(a.hex().parse::<Address>(), Ok(a));
        assert!("ehr1qqqq".parse::<Address>().is_err());
        assert!("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
            .parse::<Address>()
            .is_err());
    }

    #[test]
    fn public_keys_off_the_curve_are_refused() {
        // x = 5 is not the x-coordinate of any point on secp256k1.
        let mut off_curve = [0u8; 33];
        off_curve[0] = 2;
        off_curve[32] = 5;
        assert!(PublicKey::from_bytes(&off_curve).is_none());
        assert!(PublicKey::from_bytes(&[0u8; 33]).is_none());
        assert!(PublicKey::from_bytes(&[4u8; 65]).is_none());
        assert!(PublicKey::from_bytes(&[]).is_none());
    }
}
