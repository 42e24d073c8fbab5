//! The known-answer state keys of `client/tests/vectors/state-keys.json`: the
//! key each single-record query path names, as the ledger derives it
//! (`ledger::query::state_key`). A reader checks a state proof against the key
//! it derives itself from the path it asked, never the key a node says it
//! answered; the portal derives them the same way (portal/src/ledger/keys.ts)
//! and is held to this file. Paths that name no single key are listed too.

mod common;

use ehr_ledger::crypto::SecretKey;
use ehr_ledger::ledger::query::state_key;
use serde_json::{json, Value};

#[test]
fn the_state_key_vector_is_what_the_ledger_derives_from_a_path() {
    let service = SecretKey::from_seed("ingest@general").address();
    let paths = [
        "/device/hr-1".to_string(),
        "/record/rx-7".to_string(),
        format!("/batch/{service}/42"),
        format!("/batch/{}/7", service.hex()),
        format!("/batch/{service}/007"),
        "/erasure/3".to_string(),
    ];
    let keys: Vec<Value> = paths
        .iter()
        .map(|p| json!({"path": p, "key": state_key(p).unwrap().unwrap()}))
        .collect();
    let none = [
        "/devices/ehr1xyz",
        "/batch/not-an-address/1",
        "/batch/7/x",
        "/nothing",
    ];
    for p in none {
        assert!(!matches!(state_key(p), Ok(Some(_))), "{p} names no key");
    }
    let written = json!({ "keys": keys, "no_key": none });
    let vector: Value = serde_json::from_str(&common::vector(
        "state-keys.json",
        &(serde_json::to_string_pretty(&written).unwrap() + "\n"),
    ))
    .unwrap();
    assert_eq!(vector, written);
}
