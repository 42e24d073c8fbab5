//! The known-answer Merkle tree of `client/tests/vectors/merkle-7.json`:
//! seven record hashes (SHA-256 of "record-0" … "record-6"), their batch
//! root as ingest anchors it on chain (RFC 6962 hashing) and each record's
//! audit path as the gateway serves it. The portal checks records against
//! these (docs/portal.md).
//!
//! `EHR_WRITE_VECTORS=1 cargo test -p ehr-client --test the_merkle_vector_is_what_ingest_anchors`
//! writes the file again after a deliberate change of the format.

mod common;

use ehr_ledger::crypto::{merkle, sha256};
use serde_json::{json, Value};

#[test]
fn the_merkle_vector_is_what_ingest_anchors() {
    let items: Vec<[u8; 32]> = (0..7)
        .map(|i| sha256(format!("record-{i}").as_bytes()))
        .collect();
    let root = merkle::root(&items);
    let paths = merkle::proofs(&items);
    let written = json!({
        "items": items.iter().map(hex::encode).collect::<Vec<_>>(),
        "root": hex::encode(root),
        "paths": paths
            .iter()
            .map(|p| p.iter().map(hex::encode).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
    });
    let vector: Value = serde_json::from_str(&common::vector(
        "merkle-7.json",
        &(serde_json::to_string_pretty(&written).unwrap() + "\n"),
    ))
    .unwrap();
    assert_eq!(vector, written);
    for (i, path) in paths.iter().enumerate() {
        assert!(merkle::verify(&root, &items[i], i, items.len(), path));
        assert!(!merkle::verify(
            &root,
            &items[i],
            (i + 1) % 7,
            items.len(),
            path
        ));
    }
}
