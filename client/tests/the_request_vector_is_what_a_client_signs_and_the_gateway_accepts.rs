//! The known-answer signed request of `client/tests/vectors/request-v2.json`:
//! the doctor (key SHA-256("doctor")) asks General's gateway (key
//! SHA-256("gateway@general")) for alice's vitals, with a fixed timestamp
//! and nonce. The client library signs exactly these headers and the
//! gateway's check accepts them; the portal must write them byte for byte
//! (docs/portal.md).
//!
//! `EHR_WRITE_VECTORS=1 cargo test -p ehr-client --test the_request_vector_is_what_a_client_signs_and_the_gateway_accepts`
//! writes the file again after a deliberate change of the format.

mod common;

use ehr_client::read_path::request_auth::{sign_with_nonce, verify, AuthError, AuthHeaders};
use ehr_ledger::crypto::SecretKey;
use serde_json::{json, Value};

#[test]
fn the_request_vector_is_what_a_client_signs_and_the_gateway_accepts() {
    let doctor = SecretKey::from_seed("doctor");
    let audience = SecretKey::from_seed("gateway@general")
        .address()
        .to_string();
    let path = format!(
        "/v1/patients/{}/records?category=vitals&limit=50",
        SecretKey::from_seed("alice").address()
    );
    let (method, body, timestamp) = ("GET", b"".as_slice(), 1_767_225_600_000i64);
    let nonce = "000102030405060708090a0b0c0d0e0f";
    let h = sign_with_nonce(&doctor, &audience, method, &path, body, timestamp, nonce);
    let written = json!({
        "signer_seed": "doctor",
        "audience": audience,
        "method": method,
        "path_and_query": path,
        "body": "",
        "timestamp_ms": timestamp,
        "nonce": nonce,
        "headers": {
            "x-ehr-audience": h.audience,
            "x-ehr-public-key": h.public_key,
            "x-ehr-timestamp": h.timestamp,
            "x-ehr-nonce": h.nonce,
            "x-ehr-signature": h.signature,
        }
    });
    let vector: Value = serde_json::from_str(&common::vector(
        "request-v2.json",
        &(serde_json::to_string_pretty(&written).unwrap() + "\n"),
    ))
    .unwrap();
    assert_eq!(vector, written, "signing is deterministic");

    let caller =
        verify(&h, &audience, method, &path, body, timestamp).expect("the gateway accepts it");
    assert_eq!(caller.address, doctor.address());
    let other = SecretKey::from_seed("gateway@north").address().to_string();
    assert!(matches!(
        verify(&h, &other, method, &path, body, timestamp),
        Err(AuthError::WrongAudience { .. })
    ));
    let moved = AuthHeaders {
        nonce: "ffffffffffffffffffffffffffffffff".into(),
        ..h
    };
    assert_eq!(
        verify(&moved, &audience, method, &path, body, timestamp),
        Err(AuthError::BadSignature)
    );
}
