//! "Serve only what can be audited" holds against a lying node. On four
//! CometBFT validators, a gateway whose node swallows its disclosure log and
//! says it was committed (a made-up block height and events) never marks a
//! disclosure settled: the entries are not in the patient's trail, so no
//! proof shows them, and after 30 s the log is sent again with the reason.
//! Through an honest node the same read is settled once its entry is proven.

use std::time::Duration;

use ehr_client::read_path::client::{GatewayClient, RecordsQuery};
use ehr_testkit::stack::*;
use serde_json::{json, Value};

/// Takes `broadcast_tx_sync` and sends nothing on (the call goes up as a
/// harmless `health`).
fn swallow_broadcasts(request: &mut Value) {
    if request["method"] == "broadcast_tx_sync" {
        request["method"] = Value::from("health");
        request["params"] = json!({});
    }
}

/// Answers the swallowed broadcast as accepted, and every `tx` lookup as
/// committed at height 3 with a disclosure event pointing into alice's trail.
fn says_committed(request: &Value, answer: &mut Value) {
    let result = match request["method"].as_str() {
        Some("health") => json!({"code": 0, "data": "", "log": "", "codespace": "", "hash": "00"}),
        Some("tx") => json!({
            "hash": "00",
            "height": "3",
            "index": 0,
            "tx": "",
            "tx_result": {
                "code": 0,
                "log": "",
                "events": [{"type": "disclosure", "attributes": [
                    {"key": "patient", "value": "0000000000000000000000000000000000000000"},
                    {"key": "seq", "value": "1"}
                ]}]
            }
        }),
        _ => return,
    };
    *answer = json!({"jsonrpc": "2.0", "id": 1, "result": result});
}

#[test]
fn a_disclosure_is_settled_only_when_its_audit_entry_is_proven() {
    let mut s = Stack::start_on_cometbft();
    s.alice_heart_rates(2);
    let alice = s.cast.alice.address();
    let vitals = RecordsQuery::category("vitals");
    // One gateway at a time works the outbox.
    s.gateway.kill_9();

    let liar = LyingNode::start(&s.node.url, swallow_broadcasts, says_committed);
    let dir = s.dir.path().join("lied-to");
    std::fs::create_dir_all(&dir).unwrap();
    let mut lied_to =
        GatewayProcess::start_via(&dir, &s.db, &s.node, &liar.url, &s.gateway_key, &[]);
    let doctor = GatewayClient::new(&lied_to.url, s.cast.doctor.clone());
    s.block_on(doctor.records(&alice, &vitals))
        .expect("served: the disclosure is in the outbox first");
    // Sent again at once: the reason and the attempt stay on the row.
    let outcome = "SELECT count(*) FROM gateway.disclosures
                   WHERE attempts >= 1 AND last_error LIKE '%audit entries are not proven%'";
    wait_for(
        "the swallowed log sent again, its settlement refused with the reason",
        Duration::from_secs(90),
        || s.db.count(outcome) >= 1,
    );
    assert_eq!(
        s.db.count("SELECT count(*) FROM gateway.disclosures WHERE status = 'committed'"),
        0,
        "nothing is settled on a node's word"
    );
    lied_to.kill_9();

    // Through the honest node, the same outbox is logged and settled on proof.
    s.gateway = GatewayProcess::start(&dir, &s.db, &s.node, &s.gateway_key);
    wait_for(
        "every disclosure settled with its entry proven",
        Duration::from_secs(60),
        || {
            s.db.count("SELECT count(*) FROM gateway.disclosures WHERE status <> 'committed'") == 0
        },
    );
    let trail = s.audit_trail(&s.cast.alice);
    assert!(trail
        .items
        .iter()
        .any(|e| e.accessor == s.cast.doctor.address().0.to_vec()));
}
