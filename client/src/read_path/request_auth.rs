//! Signed HTTP requests, for the record gateway: the caller signs the
//! gateway it addresses (its audience), the method, path with query, a
//! timestamp, a random nonce and the SHA-256 of the body with their secp256k1
//! key. The server checks the audience is itself, the signature, that the
//! timestamp is within a window of its clock, and (with its own store) that
//! the nonce was not seen before — so a captured request cannot be replayed,
//! not even against another hospital's gateway with a nonce store of its own.
//!
//! Headers: `x-ehr-audience` (the gateway's address, `ehr1…`, as its `/health`
//! says), `x-ehr-public-key` (66 hex), `x-ehr-timestamp` (unix ms),
//! `x-ehr-nonce` (32 hex), `x-ehr-signature` (128 hex: ECDSA over SHA-256 of)
//!
//! ```text
//! "ehr-request-v2\n" AUDIENCE "\n" METHOD "\n" PATH_AND_QUERY "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA-256(body))
//! ```

use ehr_ledger::crypto::{request, sha256, verify_signature, Address, PublicKey, SecretKey};
use ehr_ledger::proto::SignedRequest;

pub const HEADER_AUDIENCE: &str = "x-ehr-audience";
pub const HEADER_PUBLIC_KEY: &str = "x-ehr-public-key";
pub const HEADER_TIMESTAMP: &str = "x-ehr-timestamp";
pub const HEADER_NONCE: &str = "x-ehr-nonce";
pub const HEADER_SIGNATURE: &str = "x-ehr-signature";
/// How far a request's timestamp may be from the server's clock.
pub const WINDOW_MS: i64 = 60_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthHeaders {
    pub audience: String,
    pub public_key: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl AuthHeaders {
    /// The request with these headers: how every caller sends them.
    pub fn attach(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header(HEADER_AUDIENCE, self.audience)
            .header(HEADER_PUBLIC_KEY, self.public_key)
            .header(HEADER_TIMESTAMP, self.timestamp)
            .header(HEADER_NONCE, self.nonce)
            .header(HEADER_SIGNATURE, self.signature)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("the request is not signed: header {0} is missing")]
    Missing(&'static str),
    #[error("header {0} is malformed")]
    Malformed(&'static str),
    #[error("the request's timestamp is {0} ms away from the server's clock (at most {WINDOW_MS}); check the clock or sign again")]
    Stale(i64),
    #[error("the signature does not match the request")]
    BadSignature,
    #[error("the request is addressed to gateway {to}, not to this one ({me}): sign it for the gateway you send it to (its /health names it)")]
    WrongAudience { to: String, me: String },
}

fn canonical(
    audience: &str,
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    request::canonical(
        audience,
        method,
        path_and_query,
        timestamp,
        nonce,
        &sha256(body),
    )
}

/// Signs a request to the gateway `audience` at `now_ms` with a fresh random nonce.
pub fn sign(
    key: &SecretKey,
    audience: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_ms: i64,
) -> AuthHeaders {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("the operating system provides randomness");
    sign_with_nonce(
        key,
        audience,
        method,
        path_and_query,
        body,
        now_ms,
        &hex::encode(nonce),
    )
}

pub fn sign_with_nonce(
    key: &SecretKey,
    audience: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_ms: i64,
    nonce: &str,
) -> AuthHeaders {
    let timestamp = now_ms.to_string();
    let signature = key.sign(&canonical(
        audience,
        method,
        path_and_query,
        &timestamp,
        nonce,
        body,
    ));
    AuthHeaders {
        audience: audience.to_string(),
        public_key: hex::encode(key.public_key().to_bytes()),
        timestamp,
        nonce: nonce.to_string(),
        signature: hex::encode(signature),
    }
}

/// A verified caller: their address, and the nonce the server must not accept again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub address: Address,
    pub public_key: PublicKey,
    pub nonce: String,
    pub timestamp_ms: i64,
    /// The request as signed: what a disclosure that answers it carries to
    /// the chain, where it is checked again.
    pub request: SignedRequest,
}

/// Checks audience (`me`, the server's own), signature and timestamp; the
/// caller of this checks the nonce is new.
pub fn verify(
    h: &AuthHeaders,
    me: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_ms: i64,
) -> Result<Caller, AuthError> {
    let key_bytes =
        hex::decode(&h.public_key).map_err(|_| AuthError::Malformed(HEADER_PUBLIC_KEY))?;
    let public_key =
        PublicKey::from_bytes(&key_bytes).ok_or(AuthError::Malformed(HEADER_PUBLIC_KEY))?;
    let timestamp_ms: i64 = h
        .timestamp
        .parse()
        .map_err(|_| AuthError::Malformed(HEADER_TIMESTAMP))?;
    if h.nonce.len() != 32 || hex::decode(&h.nonce).is_err() {
        return Err(AuthError::Malformed(HEADER_NONCE));
    }
    let signature =
        hex::decode(&h.signature).map_err(|_| AuthError::Malformed(HEADER_SIGNATURE))?;
    verify_signature(
        &public_key,
        &canonical(
            &h.audience,
            method,
            path_and_query,
            &h.timestamp,
            &h.nonce,
            body,
        ),
        &signature,
    )
    .map_err(|_| AuthError::BadSignature)?;
    if h.audience != me {
        return Err(AuthError::WrongAudience {
            to: h.audience.chars().take(64).collect(),
            me: me.to_string(),
        });
    }
    // Saturating, and compared unsigned: a timestamp at either end of the
    // range is far from now, never wrapped into the window.
    let skew = timestamp_ms.saturating_sub(now_ms);
    if skew.unsigned_abs() > WINDOW_MS.unsigned_abs() {
        return Err(AuthError::Stale(skew));
    }
    Ok(Caller {
        address: public_key.address(),
        public_key,
        nonce: h.nonce.clone(),
        timestamp_ms,
        request: SignedRequest {
            audience: h.audience.clone(),
            method: method.to_ascii_uppercase(),
            path_and_query: path_and_query.to_string(),
            timestamp: h.timestamp.clone(),
            nonce: h.nonce.clone(),
            body_sha256: sha256(body).to_vec(),
            public_key: key_bytes,
            signature,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000;
    const GW: &str = "ehr1gateway";

    #[test]
    fn a_signed_request_verifies_as_its_signer() {
        let key = SecretKey::from_seed("doctor");
        let h = sign(
            &key,
            GW,
            "get",
            "/v1/patients/x/records?category=vitals",
            b"",
            NOW,
        );
        let c = verify(
            &h,
            GW,
            "GET",
            "/v1/patients/x/records?category=vitals",
            b"",
            NOW + 500,
        )
        .unwrap();
        assert_eq!(c.address, key.address());
        assert_eq!(c.nonce.len(), 32);
        assert_ne!(
            sign(&key, GW, "GET", "/", b"", NOW).nonce,
            sign(&key, GW, "GET", "/", b"", NOW).nonce
        );
    }

    #[test]
    fn any_change_to_the_request_breaks_the_signature() {
        let key = SecretKey::from_seed("doctor");
        let h = sign_with_nonce(&key, GW, "POST", "/v1/wraps", b"{}", NOW, &"ab".repeat(16));
        assert_eq!(
            verify(&h, GW, "POST", "/v1/wraps?x=1", b"{}", NOW),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify(&h, GW, "PUT", "/v1/wraps", b"{}", NOW),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify(&h, GW, "POST", "/v1/wraps", b"{ }", NOW),
            Err(AuthError::BadSignature)
        );
        let other = AuthHeaders {
            public_key: hex::encode(SecretKey::from_seed("nurse").public_key().to_bytes()),
            ..h.clone()
        };
        assert_eq!(
            verify(&other, GW, "POST", "/v1/wraps", b"{}", NOW),
            Err(AuthError::BadSignature)
        );
        let later = AuthHeaders {
            timestamp: (NOW + 1).to_string(),
            ..h.clone()
        };
        assert_eq!(
            verify(&later, GW, "POST", "/v1/wraps", b"{}", NOW),
            Err(AuthError::BadSignature)
        );
        // Addressed to another gateway: refused there by name; re-addressed
        // after signing: the signature breaks.
        assert!(matches!(
            verify(&h, "ehr1other", "POST", "/v1/wraps", b"{}", NOW),
            Err(AuthError::WrongAudience { .. })
        ));
        let readdressed = AuthHeaders {
            audience: "ehr1other".into(),
            ..h.clone()
        };
        assert_eq!(
            verify(&readdressed, "ehr1other", "POST", "/v1/wraps", b"{}", NOW),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn stale_or_malformed_requests_are_refused_with_the_reason() {
        let key = SecretKey::from_seed("doctor");
        let h = sign(&key, GW, "GET", "/", b"", NOW);
        assert_eq!(
            verify(&h, GW, "GET", "/", b"", NOW + WINDOW_MS + 1),
            Err(AuthError::Stale(-WINDOW_MS - 1))
        );
        assert_eq!(
            verify(&h, GW, "GET", "/", b"", NOW - WINDOW_MS - 1),
            Err(AuthError::Stale(WINDOW_MS + 1))
        );
        assert_eq!(
            verify(
                &AuthHeaders {
                    nonce: "short".into(),
                    ..h.clone()
                },
                GW,
                "GET",
                "/",
                b"",
                NOW
            ),
            Err(AuthError::Malformed(HEADER_NONCE))
        );
        assert_eq!(
            verify(
                &AuthHeaders {
                    public_key: "zz".into(),
                    ..h.clone()
                },
                GW,
                "GET",
                "/",
                b"",
                NOW
            ),
            Err(AuthError::Malformed(HEADER_PUBLIC_KEY))
        );
        assert_eq!(
            verify(
                &AuthHeaders {
                    timestamp: "soon".into(),
                    ..h
                },
                GW,
                "GET",
                "/",
                b"",
                NOW
            ),
            Err(AuthError::Malformed(HEADER_TIMESTAMP))
        );
    }

    proptest::proptest! {
        /// Any header values: refused with a reason or (never, without the
        /// key) accepted; no panic, no overflow, whatever the clock.
        #[test]
        fn any_headers_are_refused_without_panic(
            audience in ".{0,80}",
            public_key in ".{0,80}",
            timestamp in ".{0,30}",
            nonce in ".{0,40}",
            signature in ".{0,140}",
            path in ".{0,80}",
            now in proptest::num::i64::ANY,
        ) {
            let h = AuthHeaders { audience, public_key, timestamp, nonce, signature };
            proptest::prop_assert!(verify(&h, GW, "GET", &path, b"", now).is_err());
        }

        /// Any request signed now verifies as its signer, for any method,
        /// path and body, at any time of the range.
        #[test]
        fn any_signed_request_verifies_as_its_signer(
            method in "[A-Z]{3,7}",
            path in "/[ -~]{0,100}",
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            now in proptest::num::i64::ANY,
        ) {
            let key = SecretKey::from_seed("doctor");
            let h = sign(&key, GW, &method, &path, &body, now);
            let c = verify(&h, GW, &method, &path, &body, now).unwrap();
            proptest::prop_assert_eq!(c.address, key.address());
        }
    }
}
