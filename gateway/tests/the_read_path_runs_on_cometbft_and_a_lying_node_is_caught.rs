//! The services on the real network: ingest anchors batches through a
//! CometBFT validator's RPC, the gateway serves and logs disclosures through
//! it, and `ehr fetch` verifies every record against a block header checked by
//! the validators' signatures. A node that lies about the app hash in its
//! headers is caught and named.

use std::net::SocketAddr;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use ehr_testkit::stack::*;
use serde_json::Value;

/// An RPC endpoint in front of a real node that forwards every call and
/// changes the app hash in every header it returns.
struct LyingNode {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

async fn forward_and_lie(State(upstream): State<String>, body: axum::body::Bytes) -> String {
    let answer = reqwest::Client::new()
        .post(&upstream)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut json: Value = serde_json::from_str(&answer).unwrap();
    for header in [
        "/result/signed_header/header/app_hash",
        "/result/block/header/app_hash",
    ] {
        if let Some(h) = json.pointer_mut(header) {
            *h = Value::from("AB".repeat(32));
        }
    }
    json.to_string()
}

impl LyingNode {
    fn start(upstream: &str) -> LyingNode {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/", post(forward_and_lie))
            .with_state(upstream.to_string());
        runtime.spawn(async move { axum::serve(listener, app).await });
        LyingNode {
            url: format!("http://{addr}"),
            _runtime: runtime,
        }
    }
}

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
    let liar = LyingNode::start(&s.node.url);
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
