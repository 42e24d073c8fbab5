//! The known-answer state proofs of `client/tests/vectors/state-proof.json`:
//! a small state (40 keys "k-0" … "k-39", values "v-<i>") committed at
//! height 1, and the proofs a validator answers to `abci_query` with
//! `prove` (a borsh-encoded Jellyfish Merkle proof, ProofOp `jmt:v1`): that
//! "k-7" holds "v-7", and that "absent" holds nothing. The portal checks
//! records' anchors with the same proofs (docs/portal.md).

mod common;

use std::collections::BTreeMap;

use ehr_ledger::ledger::query::{decode_proof, encode_proof};
use ehr_ledger::storage::{verify_proof, Storage};
use serde_json::{json, Value};

#[test]
fn the_state_proof_vector_is_what_a_validator_answers() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(&dir.path().join("state.redb")).unwrap();
    let writes: BTreeMap<Vec<u8>, Option<Vec<u8>>> = (0..40)
        .map(|i| {
            (
                format!("k-{i}").into_bytes(),
                Some(format!("v-{i}").into_bytes()),
            )
        })
        .collect();
    let committed = storage.commit(storage.prepare(1, writes).unwrap()).unwrap();
    let (value, present) = storage.get_with_proof(b"k-7", 1).unwrap();
    let (nothing, absent) = storage.get_with_proof(b"absent", 1).unwrap();
    assert_eq!(value.as_deref(), Some(b"v-7".as_slice()));
    assert_eq!(nothing, None);
    let written = json!({
        "root": hex::encode(committed.root),
        "present": {"key": "k-7", "value": "v-7", "proof": hex::encode(encode_proof(&present))},
        "absent": {"key": "absent", "proof": hex::encode(encode_proof(&absent))},
    });
    let vector: Value = serde_json::from_str(&common::vector(
        "state-proof.json",
        &(serde_json::to_string_pretty(&written).unwrap() + "\n"),
    ))
    .unwrap();
    assert_eq!(vector, written, "the tree and its proofs are deterministic");

    let proof = |v: &Value| decode_proof(&hex::decode(v.as_str().unwrap()).unwrap()).unwrap();
    let root = committed.root;
    verify_proof(
        root,
        b"k-7",
        Some(b"v-7"),
        &proof(&vector["present"]["proof"]),
    )
    .unwrap();
    verify_proof(root, b"absent", None, &proof(&vector["absent"]["proof"])).unwrap();
    assert!(verify_proof(
        root,
        b"k-7",
        Some(b"v-8"),
        &proof(&vector["present"]["proof"])
    )
    .is_err());
    assert!(verify_proof(root, b"k-7", None, &proof(&vector["absent"]["proof"])).is_err());
}
