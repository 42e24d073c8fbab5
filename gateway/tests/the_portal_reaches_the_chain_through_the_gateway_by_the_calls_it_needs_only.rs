//! POST /chain, the portal's way to the chain from the gateway's origin:
//! status, queries, blocks, transactions and broadcasting pass through to
//! the node unchanged; any other call, a body that is not a call, or one
//! too large is refused with the reason; a node that does not answer is
//! said so.

use ehr_testkit::stack::*;
use serde_json::{json, Value};

#[test]
fn the_portal_reaches_the_chain_through_the_gateway_by_the_calls_it_needs_only() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let db = database();
    let gateway = GatewayProcess::start(dir.path(), &db, &node, &key("gateway@general"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        runtime.block_on(async {
            let r = http
                .post(format!("{}/chain", gateway.url))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, body)
        })
    };
    let call = |method: &str, params: Value| {
        post(
            json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params })
                .to_string()
                .into_bytes(),
        )
    };

    // What the page needs passes through unchanged.
    let latest = || {
        let (status, body) = call("status", json!({}));
        assert_eq!(status, 200, "{body}");
        body["result"]["sync_info"]["latest_block_height"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    wait_for("a first block", std::time::Duration::from_secs(20), || {
        latest() >= 1
    });
    let height = latest();
    let (status, body) = call(
        "abci_query",
        json!({ "path": "/chain", "data": "", "height": "0", "prove": true }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["response"]["code"], 0, "{body}");
    assert!(body["result"]["response"]["proofOps"].is_object(), "{body}");
    let (status, body) = call("block", json!({ "height": height.to_string() }));
    assert_eq!(status, 200, "{body}");
    assert!(
        body["result"]["block"]["header"]["app_hash"].is_string(),
        "{body}"
    );
    // A transaction that is not one is refused by CheckTx, with its sentence.
    let (status, body) = call("broadcast_tx_sync", json!({ "tx": "AAEC" }));
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["result"]["code"], 0, "{body}");
    assert!(
        !body["result"]["log"].as_str().unwrap().is_empty(),
        "{body}"
    );
    // The node's own refusal comes back as its sentence.
    let (status, body) = call("block", json!({ "height": "not-a-height" }));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_chain_call", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("block"),
        "{body}"
    );

    // Nothing else passes, and each refusal says why.
    for method in [
        "net_info",
        "dial_peers",
        "unsafe_flush_mempool",
        "broadcast_tx_commit",
        "genesis",
    ] {
        let (status, body) = call(method, json!({}));
        assert_eq!(status, 400, "{method}: {body}");
        assert_eq!(body["code"], "bad_chain_call");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(method) && message.contains("abci_query"),
            "{message}"
        );
    }
    for (bad, reason) in [
        (b"not json".to_vec(), "not a JSON-RPC call"),
        (b"{}".to_vec(), "names no \"method\""),
        (br#"{"method": 7}"#.to_vec(), "names no \"method\""),
        (
            br#"{"method": "status", "params": [1]}"#.to_vec(),
            "must be an object",
        ),
        (
            br#"{"method": "status", "params": null}"#.to_vec(),
            "must be an object",
        ),
        (
            br#"{"jsonrpc": 2, "method": "status"}"#.to_vec(),
            "must be a string",
        ),
        (
            format!(
                r#"{{"method": "broadcast_tx_sync", "params": {{"tx": "{}"}}}}"#,
                "A".repeat(ehr_gateway::routes::MAX_CALL_BYTES)
            )
            .into_bytes(),
            "at most",
        ),
    ] {
        let (status, body) = post(bad);
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "bad_chain_call");
        assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
    }

    // With the node gone, the page is told the chain cannot be reached.
    drop(node);
    let (status, body) = call("status", json!({}));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "chain_unavailable");
}
