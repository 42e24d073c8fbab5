//! The services on the real network: ingest anchors batches through a
//! CometBFT validator's RPC, the gateway serves and logs disclosures through
//! it, and `ehr fetch` verifies every record against a block header checked by
//! the validators' signatures. A node that lies about the app hash in its
//! headers is caught and named.

use ehr_testkit::stack::*;

#[test]
fn the_read_path_runs_on_cometbft_and_a_lying_node_is_caught() {
    let s = Stack::start_on_cometbft();
    let ids = s.alice_heart_rates(12);

    // Through General's validator: every record verified against a checked header.
    let out = s.ehr(&["fetch", "--as", "doctor", "--patient", "alice"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("checked by the validators' signatures"),
        "{text}"
    );
    for id in &ids {
        assert!(
            text.lines()
                .any(|l| l.contains("verified") && l.contains(id.as_str())),
            "{id} not verified:\n{text}"
        );
    }
    s.disclosures_logged();
    let trail = s.audit_trail(&s.cast.alice);
    assert!(
        trail
            .items
            .iter()
            .any(|e| e.accessor == s.cast.doctor.address().0.to_vec()),
        "the doctor's read is in alice's audit trail on chain"
    );

    // Through a node that lies about the app hash: caught, and named. A fresh
    // reader, so that no header verified before vouches for the answers.
    let liar = LyingNode::start(&s.node.url, honest, other_app_hash);
    std::fs::remove_dir_all(s.dir.path().join("ehr/light")).unwrap();
    let out = s.ehr_via(
        &liar.url,
        &["fetch", "--as", "doctor", "--patient", "alice"],
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("the node at {}", liar.url)) && text.contains("lying"),
        "{text}"
    );
    assert!(!text.contains("  verified  "), "{text}");
}
