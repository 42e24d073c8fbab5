//! What a reader trusts comes from its own configuration, never from the node
//! it asks. On four CometBFT validators, with the consortium's genesis file at
//! hand: a node (or anyone on the path) that calls itself a dev sequencer is
//! refused with a sentence — in plain output and in FHIR, with a failing exit
//! code — and trusting a sequencer while a genesis is at hand is refused too.
//! A node that answers a device's query with another key's honest proof is
//! caught: proofs are checked against the key the reader derives itself.

use ehr_testkit::stack::*;
use serde_json::Value;

/// The node's version, as a dev sequencer states it.
fn claims_to_be_a_sequencer(_: &Value, answer: &mut Value) {
    if let Some(v) = answer.pointer_mut("/result/node_info/version") {
        *v = Value::from("0.38.26 (ehr-ledger dev sequencer)");
    }
}

/// Asked for alice's heart-rate monitor, answers with bob's oximeter: a
/// real value with a real proof, of another key.
fn another_device(request: &mut Value) {
    if let Some(path) = request.pointer_mut("/params/path") {
        if path.as_str() == Some("/device/hr-1") {
            *path = Value::from("/device/spo2-1");
        }
    }
}

#[test]
fn a_node_that_calls_itself_a_sequencer_or_proves_another_key_is_refused() {
    let s = Stack::start_on_cometbft();
    let ids = s.alice_heart_rates(4);
    let fetch = ["fetch", "--as", "doctor", "--patient", "alice"];

    let liar = LyingNode::start(&s.node.url, honest, claims_to_be_a_sequencer);
    for args in [&fetch[..], &[&fetch[..], &["--fhir"]].concat()] {
        let out = s.ehr_via(&liar.url, args);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!out.status.success(), "{text}");
        assert!(
            text.contains(&format!(
                "the node at {} says it is a dev sequencer",
                liar.url
            )) && text.contains("is refused"),
            "{text}"
        );
        assert!(!stdout(&out).contains("\"resourceType\""), "{text}");
        assert!(!text.contains("  verified  "), "{text}");
    }

    // Trusting a sequencer is a choice of one's own, and not beside a genesis.
    let out = s.ehr(&[&["--trust-dev-sequencer"], &fetch[..]].concat());
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("choose one"), "{text}");

    // Another key's proof for alice's device: the proof, not the device, fails.
    std::fs::remove_dir_all(s.dir.path().join("ehr/light")).ok();
    let liar = LyingNode::start(&s.node.url, another_device, truthful);
    let out = s.ehr_via(&liar.url, &fetch);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    for id in &ids {
        assert!(
            text.lines().any(|l| l.contains("NOT VERIFIED")
                && l.contains(id.as_str())
                && l.contains("state proof for /device/hr-1")),
            "{id} is refused for its device's proof:\n{text}"
        );
    }
    assert!(!text.contains("bound on chain"), "{text}");

    // The honest node still verifies everything.
    let out = s.ehr(&fetch);
    assert!(out.status.success(), "{}", stderr(&out));
}
