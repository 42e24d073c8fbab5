//! The known-answer transaction of `client/tests/vectors/tx-grant-access.hex`:
//! alice (key SHA-256("alice")) grants the doctor (key SHA-256("doctor"))
//! read access to her vitals and labs until 2027-01-01, nonce 1, on chain
//! "ehr-vectors". The ledger signs exactly these bytes (ECDSA with RFC 6979
//! nonces, so the signature is reproducible) and accepts them; the portal's
//! own implementation must write them byte for byte (docs/portal.md).
//!
//! `EHR_WRITE_VECTORS=1 cargo test -p ehr-client --test the_transaction_vector_is_what_the_ledger_signs_and_accepts`
//! writes the file again after a deliberate change of the format.

mod common;

use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{
    action::Kind, grantee, AccessLevel, Category, GrantAccess, Grantee, SignedTx, TxBody,
};
use ehr_ledger::tx::{decode_and_verify, sign_tx};
use prost::Message;

fn vector_tx() -> Vec<u8> {
    let alice = SecretKey::from_seed("alice");
    let doctor = SecretKey::from_seed("doctor");
    sign_tx(
        &alice,
        "ehr-vectors",
        1,
        Kind::GrantAccess(GrantAccess {
            patient: alice.address().0.to_vec(),
            grantee: Some(Grantee {
                kind: Some(grantee::Kind::Clinician(doctor.address().0.to_vec())),
            }),
            categories: vec![Category::Vitals as i32, Category::Labs as i32],
            access: AccessLevel::Read as i32,
            expires_at: 1_798_761_600,
        }),
    )
}

#[test]
fn the_transaction_vector_is_what_the_ledger_signs_and_accepts() {
    let tx = vector_tx();
    let vector = common::vector("tx-grant-access.hex", &(hex::encode(&tx) + "\n"));
    assert_eq!(hex::encode(&tx), vector.trim(), "signing is deterministic");

    let verified = decode_and_verify(&tx, "ehr-vectors").expect("the ledger accepts it");
    assert_eq!(verified.signer, SecretKey::from_seed("alice").address());
    assert_eq!(verified.nonce, 1);
    assert!(
        decode_and_verify(&tx, "another-chain").is_err(),
        "bound to its chain"
    );
    let envelope = SignedTx::decode(tx.as_slice()).unwrap();
    let body = TxBody::decode(envelope.body.as_slice()).unwrap();
    assert_eq!(body.chain_id, "ehr-vectors");
}

/// A new key's proof of a binding (`client/tests/vectors/key-binding.json`):
/// the key SHA-256("alice's new phone") proves it may be bound to alice's
/// address by a rotation, and by a recovery — two different signatures,
/// each verifying only over its own purpose. The portal writes the same.
#[test]
fn the_key_binding_proofs_are_what_the_ledger_checks() {
    use ehr_ledger::ledger::actions::rotation::{binding_message, prove_binding, Binding};
    let alice = SecretKey::from_seed("alice").address();
    let new = SecretKey::from_seed("alice's new phone");
    let [rotation, recovery] =
        [Binding::Rotation, Binding::Recovery].map(|why| prove_binding(&new, why, &alice));
    let written = serde_json::json!({
        "identity": alice.to_string(),
        "new_key_seed": "alice's new phone",
        "rotation": hex::encode(&rotation),
        "recovery": hex::encode(&recovery),
    });
    let vector: serde_json::Value = serde_json::from_str(&common::vector(
        "key-binding.json",
        &(serde_json::to_string_pretty(&written).unwrap() + "\n"),
    ))
    .unwrap();
    assert_eq!(vector, written, "signing is deterministic");
    assert_ne!(rotation, recovery);
    let key = new.public_key();
    let verifies = |why, proof: &[u8]| {
        ehr_ledger::crypto::verify_signature(&key, &binding_message(why, &alice), proof).is_ok()
    };
    assert!(verifies(Binding::Rotation, &rotation));
    assert!(verifies(Binding::Recovery, &recovery));
    assert!(
        !verifies(Binding::Rotation, &recovery),
        "a recovery's proof is no rotation's"
    );
}
