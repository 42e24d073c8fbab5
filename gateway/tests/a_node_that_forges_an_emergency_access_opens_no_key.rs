//! The gateway opens its break-glass escrow only on state the validators
//! signed. On four CometBFT validators: a gateway whose chain node forges
//! "emergency access open" for a doctor with no grant — the computed
//! `/access` answer and the primitive `emergency/…` value alike — hands out no
//! key and no record: the forged value has no proof against the app hash,
//! and the refusal says so. The same doctor through an honest node is
//! refused with the chain's reason, and the granted doctor still reads.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ehr_client::read_path::client::{GatewayClient, RecordsQuery};
use ehr_ledger::proto::{AccessBasis, AccessDecision, EmergencyAccess};
use ehr_testkit::stack::*;
use prost::Message;
use serde_json::Value;

/// Every access question answered "allowed: emergency", whether asked as the
/// ledger's computed `/access` path or as the `emergency/<patient>/<doctor>`
/// state key (an open emergency access until the year 2100).
fn forged_emergency(request: &Value, answer: &mut Value) {
    let path = request.pointer("/params/path").and_then(Value::as_str);
    let key = request
        .pointer("/params/data")
        .and_then(Value::as_str)
        .and_then(|d| hex::decode(d).ok())
        .map(|k| String::from_utf8_lossy(&k).to_string())
        .unwrap_or_default();
    let forged = match path {
        Some(p) if p.starts_with("/access/") => AccessDecision {
            allowed: true,
            basis: AccessBasis::Emergency as i32,
            reason: String::new(),
            until: 4_102_444_800,
        }
        .encode_to_vec(),
        Some("/store") if key.starts_with("emergency/") => EmergencyAccess {
            expires_at: 4_102_444_800,
            justification: "forged".into(),
            ..Default::default()
        }
        .encode_to_vec(),
        _ => return,
    };
    if let Some(response) = answer.pointer_mut("/result/response") {
        response["code"] = Value::from(0);
        response["log"] = Value::from("");
        response["value"] = Value::from(B64.encode(forged));
    }
}

#[test]
fn a_node_that_forges_an_emergency_access_opens_no_key() {
    let s = Stack::start_on_cometbft();
    s.alice_heart_rates(3);
    let alice = s.cast.alice.address();
    let vitals = RecordsQuery::category("vitals");

    let liar = LyingNode::start(&s.node.url, honest, forged_emergency);
    let dir = s.dir.path().join("lied-to");
    std::fs::create_dir_all(&dir).unwrap();
    let lied_to = GatewayProcess::start_via(&dir, &s.db, &s.node, &liar.url, &s.gateway_key, &[]);
    let doctor2 = GatewayClient::new(&lied_to.url, s.doctor2.clone());
    let refused = s
        .block_on(doctor2.records(&alice, &vitals))
        .expect_err("no record, no key for a forged emergency access");
    let text = refused.to_string();
    assert!(text.contains("chain_unproven"), "{text}");
    assert!(text.contains("did not prove it"), "{text}");

    // Through the honest node: refused with the chain's own reason.
    let refused = s
        .block_on(s.client(&s.doctor2).records(&alice, &vitals))
        .expect_err("doctor2 holds no grant and no emergency access");
    let text = refused.to_string();
    assert!(text.contains("access_denied"), "{text}");
    assert!(text.contains("no open emergency access"), "{text}");

    // The granted doctor reads, through the honest gateway, keys and all.
    let page = s
        .block_on(s.client(&s.cast.doctor).records(&alice, &vitals))
        .expect("the granted doctor reads");
    assert_eq!(page.basis, "GRANT");
    assert!(page.records.iter().all(|r| r.wrapped_key.is_some()));
}
