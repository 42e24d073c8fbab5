//! POST /chain, the portal's way to the chain from the gateway's origin: a
//! signed request like every /v1 call, answering its signer only what is
//! theirs — their own entries or those of a patient they are the guardian
//! of, the grants made to them or their organisation, the directory, block
//! headers without their transactions, their own transactions — and
//! broadcasting only their own signed transactions. Any other call, a body
//! that is not a call, one too large, an answer too large and a caller too
//! fast are refused with the reason; a node that does not answer is said so.

use ehr_client::read_path::request_auth::sign;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::tx::sign_tx;
use ehr_testkit::stack::*;
use prost::Message;
use serde_json::{json, Value};

/// A gateway's relay, called as the page calls it.
struct Relay<'a> {
    url: String,
    audience: String,
    runtime: &'a tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl<'a> Relay<'a> {
    fn new(gateway: &GatewayProcess, runtime: &'a tokio::runtime::Runtime) -> Self {
        let http = ehr_transport::process().http(std::time::Duration::from_secs(60));
        let audience = runtime.block_on(async {
            let h: Value = http
                .get(format!("{}/health", gateway.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            h["address"].as_str().unwrap().to_string()
        });
        Relay {
            url: gateway.url.clone(),
            audience,
            runtime,
            http,
        }
    }

    /// `body` posted, signed by `key` (unsigned without one).
    fn post(&self, key: Option<&SecretKey>, body: Vec<u8>) -> (u16, Value) {
        self.runtime.block_on(self.post_async(key, body))
    }

    async fn post_async(&self, key: Option<&SecretKey>, body: Vec<u8>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/chain", self.url))
            .header("content-type", "application/json");
        if let Some(key) = key {
            request = sign(key, &self.audience, "POST", "/chain", &body, now_ms()).attach(request);
        }
        let r = request.body(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    fn call(&self, key: &SecretKey, method: &str, params: Value) -> (u16, Value) {
        self.post(Some(key), call(method, params))
    }

    fn query(&self, key: &SecretKey, path: &str) -> (u16, Value) {
        self.call(
            key,
            "abci_query",
            json!({ "path": path, "height": "0", "prove": false }),
        )
    }
}

fn call(method: &str, params: Value) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params })
        .to_string()
        .into_bytes()
}

fn refused(answer: (u16, Value), status: u16, code: &str, reason: &str) {
    let (s, body) = answer;
    assert_eq!(s, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains(reason),
        "{reason:?} in {body}"
    );
}

fn answered(answer: (u16, Value)) -> Value {
    let (s, body) = answer;
    assert_eq!(s, 200, "{body}");
    body["result"].clone()
}

#[test]
fn the_portal_reaches_the_chain_through_the_gateway_by_the_calls_it_needs_only() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let cast = Cast::register(&node);
    let guardian = key("alice's guardian");
    node.send(
        &cast.alice,
        Kind::SetGuardian(SetGuardian {
            patient: cast.alice.address().0.to_vec(),
            guardian_public_key: pk(&guardian),
        }),
    );
    let stranger = key("a stranger with a fresh key");
    let db = database();
    let gateway = GatewayProcess::start(dir.path(), &db, &node, &key("gateway@general"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let relay = Relay::new(&gateway, &runtime);
    let (alice, bob, doctor) = (&cast.alice, &cast.bob, &cast.doctor);
    let me = |k: &SecretKey| k.address().to_string();

    // Unsigned, nothing passes.
    refused(
        relay.post(None, call("status", json!({}))),
        401,
        "unsigned",
        "x-ehr-",
    );

    // The chain's status and a block: a block's header only, none of its
    // transactions (they carry every disclosure of the block).
    let status = answered(relay.call(&stranger, "status", json!({})));
    let height: u64 = status["sync_info"]["latest_block_height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let block = answered(relay.call(&stranger, "block", json!({ "height": height.to_string() })));
    assert!(block["block"]["header"]["app_hash"].is_string(), "{block}");
    assert!(block["block"].get("data").is_none(), "{block}");

    // The directory, to anyone who signs.
    let orgs = answered(relay.query(&stranger, "/organisations"));
    assert_eq!(orgs["response"]["code"], 0, "{orgs}");
    assert!(orgs["response"]["value"].is_string(), "{orgs}");
    answered(relay.query(&stranger, "/staff/general"));
    answered(relay.query(bob, &format!("/participant/{}", me(doctor))));

    // A patient's entries: to her and her guardian, to nobody else. (The
    // relay decides on state a header proves: the guardian named in the
    // newest block counts once the header after it comes.)
    let audit = format!("/audit/{}", me(alice));
    assert!(
        wait_until(std::time::Duration::from_secs(20), || relay
            .query(&guardian, &audit)
            .0
            == 200),
        "the guardian is seen once a header proves the block that named them"
    );
    for path in [
        "audit",
        "devices",
        "enrollment",
        "access-requests",
        "recovery",
        "erasures",
        "holds",
    ] {
        let path = format!("/{path}/{}", me(alice));
        answered(relay.query(alice, &path));
        answered(relay.query(&guardian, &path));
        for other in [bob, doctor, &stranger] {
            refused(
                relay.query(other, &path),
                403,
                "chain_call_not_allowed",
                "the patient or their guardian",
            );
        }
    }
    // Her key and her grants also to a doctor she granted (he seals what he
    // writes for her and her other readers), and the amendments of her
    // records (he reads them with their history); not to others.
    for path in ["participant", "grants", "amendments"] {
        let path = format!("/{path}/{}", me(alice));
        for k in [alice, &guardian, doctor] {
            answered(relay.query(k, &path));
        }
        for other in [bob, &stranger] {
            refused(
                relay.query(other, &path),
                403,
                "chain_call_not_allowed",
                "those the chain lets read her records now",
            );
        }
    }
    // Her prescriptions and orders by category: the doctor holds her vitals
    // only, so not to him.
    for path in ["prescriptions", "orders"] {
        let path = format!("/{path}/{}", me(alice));
        for k in [alice, &guardian] {
            assert_eq!(answered(relay.query(k, &path))["response"]["code"], 0);
        }
        for other in [doctor, bob, &stranger] {
            refused(
                relay.query(other, &path),
                403,
                "chain_call_not_allowed",
                "those the chain lets read her",
            );
        }
    }
    refused(
        relay.query(&stranger, &format!("/account/{}", me(alice))),
        403,
        "chain_call_not_allowed",
        "its owner only",
    );
    answered(relay.query(alice, &format!("/account/{}", me(alice))));

    // Grants made to a clinician: to them; to an organisation: to its staff.
    answered(relay.query(doctor, &format!("/granted-to/{}", me(doctor))));
    refused(
        relay.query(bob, &format!("/granted-to/{}", me(doctor))),
        403,
        "chain_call_not_allowed",
        "go to them only",
    );
    answered(relay.query(doctor, "/granted-to/org:general"));
    for other in [alice, &stranger] {
        refused(
            relay.query(other, "/granted-to/org:general"),
            403,
            "chain_call_not_allowed",
            "its own active staff",
        );
    }
    // A lab's worklist: to its staff. Whom a guardian guards: to the guardian.
    assert_eq!(
        answered(relay.query(doctor, "/lab-orders/general"))["response"]["code"],
        0
    );
    refused(
        relay.query(alice, "/lab-orders/general"),
        403,
        "chain_call_not_allowed",
        "its own active staff",
    );
    let guarding = answered(relay.query(&guardian, &format!("/guarding/{}", me(&guardian))));
    let listed = ehr_ledger::proto::ParticipantList::decode(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            guarding["response"]["value"].as_str().unwrap(),
        )
        .unwrap()
        .as_slice(),
    )
    .unwrap();
    assert_eq!(
        listed
            .items
            .iter()
            .map(|p| p.address.clone())
            .collect::<Vec<_>>(),
        [alice.address().0.to_vec()],
        "the guardian finds alice"
    );
    refused(
        relay.query(alice, &format!("/guarding/{}", me(&guardian))),
        403,
        "chain_call_not_allowed",
        "go to them only",
    );

    // A device's binding names its patient: to her, her guardian and staff.
    for k in [alice, &guardian, doctor] {
        answered(relay.query(k, "/device/hr-1"));
    }
    for k in [bob, &stranger] {
        refused(
            relay.query(k, "/device/hr-1"),
            403,
            "chain_call_not_allowed",
            "device's binding",
        );
    }

    // Paths the page never reads, and computed answers, are not relayed.
    for path in [
        format!("/access/{}/{}/vitals", me(alice), me(bob)),
        "/store".to_string(),
        "/chain".to_string(),
        "/disclosures".to_string(),
    ] {
        refused(
            relay.query(alice, &path),
            400,
            "bad_chain_call",
            "answers only",
        );
    }
    refused(
        relay.call(
            alice,
            "abci_query",
            json!({ "path": "/organisations", "data": "00" }),
        ),
        400,
        "bad_chain_call",
        "\"data\" must be empty",
    );

    // Transactions: only the signer's own are broadcast and shown.
    let nonce = runtime
        .block_on(ehr_client::rpc::RpcClient::new(&node.url).next_nonce(&alice.address()))
        .unwrap();
    let tx = sign_tx(
        alice,
        CHAIN,
        nonce,
        Kind::SetResearchConsent(SetResearchConsent {
            patient: alice.address().0.to_vec(),
            consent: true,
        }),
    );
    let tx64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &tx);
    refused(
        relay.call(bob, "broadcast_tx_sync", json!({ "tx": tx64 })),
        403,
        "chain_call_not_allowed",
        "signed by the key that signs the request",
    );
    refused(
        relay.call(bob, "broadcast_tx_sync", json!({ "tx": "AAEC" })),
        400,
        "bad_chain_call",
        "not a signed transaction",
    );
    let sent = answered(relay.call(alice, "broadcast_tx_sync", json!({ "tx": tx64 })));
    assert_eq!(sent["code"], 0, "{sent}");
    // The page asks by the base64 of the transaction's SHA-256.
    let hash = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        ehr_ledger::crypto::sha256(&tx),
    );
    // Until its block commits, the relay answers null (not an error a
    // browser would log on every poll).
    let unknown = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    let pending = relay.call(alice, "tx", json!({ "hash": unknown, "prove": false }));
    assert_eq!(pending.0, 200, "{}", pending.1);
    assert!(pending.1["result"].is_null(), "{}", pending.1);
    let committed = wait_until(std::time::Duration::from_secs(20), || {
        let (status, body) = relay.call(alice, "tx", json!({ "hash": hash, "prove": false }));
        status == 200 && !body["result"].is_null()
    });
    assert!(committed, "alice's transaction is shown to her");
    refused(
        relay.call(bob, "tx", json!({ "hash": hash, "prove": false })),
        403,
        "chain_call_not_allowed",
        "to its signer only",
    );
    // A transaction CheckTx refuses comes back with its sentence.
    let stale = sign_tx(
        bob,
        CHAIN,
        1,
        Kind::SetResearchConsent(SetResearchConsent {
            patient: bob.address().0.to_vec(),
            consent: true,
        }),
    );
    let checked = answered(relay.call(
        bob,
        "broadcast_tx_sync",
        json!({ "tx": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &stale) }),
    ));
    assert_ne!(checked["code"], 0, "{checked}");
    assert!(!checked["log"].as_str().unwrap().is_empty(), "{checked}");
    // The node's own refusal comes back as its sentence.
    refused(
        relay.call(alice, "block", json!({ "height": "not-a-height" })),
        400,
        "bad_chain_call",
        "block",
    );

    // Nothing else passes, and each refusal says why.
    for method in [
        "net_info",
        "dial_peers",
        "unsafe_flush_mempool",
        "broadcast_tx_commit",
        "genesis",
    ] {
        let (status, body) = relay.call(alice, method, json!({}));
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
        refused(relay.post(Some(alice), bad), 400, "bad_chain_call", reason);
    }

    // With the node gone, the page is told the chain cannot be reached.
    drop(node);
    refused(
        relay.call(alice, "status", json!({})),
        503,
        "chain_unavailable",
        "cannot reach its chain node",
    );
}

/// Pads every answer of the node to 3 MiB.
fn padded(_: &Value, answer: &mut Value) {
    answer["result"]["padding"] = Value::String("x".repeat(3 << 20));
}

#[test]
fn a_caller_too_fast_waits_and_a_node_answer_too_large_is_not_read_past_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let db = database();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let alice = key("alice");
    for d in ["strict", "by-address", "behind"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }

    // One call a second per key, two at once: the third at once waits.
    let strict = GatewayProcess::start_with(
        &dir.path().join("strict"),
        &db,
        &node,
        &key("gateway@general"),
        &["--relay-per-key", "1", "--relay-burst-per-key", "2"],
    );
    let relay = Relay::new(&strict, &runtime);
    answered(relay.call(&alice, "status", json!({})));
    answered(relay.call(&alice, "status", json!({})));
    let (status, body) = relay.call(&alice, "status", json!({}));
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited");
    assert!(
        body["message"].as_str().unwrap().contains("this key"),
        "{body}"
    );
    // Another key is not held up by alice's pace.
    answered(relay.call(&key("bob"), "status", json!({})));

    // Per network address, before any signature is checked: many keys from
    // one address are held together.
    let by_address = GatewayProcess::start_with(
        &dir.path().join("by-address"),
        &db,
        &node,
        &key("gateway@general"),
        &["--relay-per-address", "1", "--relay-burst-per-address", "3"],
    );
    let relay = Relay::new(&by_address, &runtime);
    let answers: Vec<u16> = (0..6)
        .map(|i| relay.call(&key(&format!("key {i}")), "status", json!({})).0)
        .collect();
    assert_eq!(&answers[..3], &[200, 200, 200], "{answers:?}");
    assert!(answers[3..].contains(&429), "{answers:?}");
    let (_, body) = relay.post(None, call("status", json!({})));
    assert!(
        body["code"] == "rate_limited" || body["code"] == "unsigned",
        "{body}"
    );

    // A node (or what stands in for it) answering 3 MiB to a 60-byte call:
    // the relay reads 2 MiB and stops.
    let liar = LyingNode::start(&node.url, honest, padded);
    let behind = GatewayProcess::start_via(
        &dir.path().join("behind"),
        &db,
        &node,
        &liar.url,
        &key("gateway@general"),
        &[],
    );
    let relay = Relay::new(&behind, &runtime);
    let small = call("status", json!({}));
    assert!(small.len() < 80);
    refused(
        relay.post(Some(&alice), small),
        502,
        "chain_answer_too_large",
        "larger than the 2097152 bytes",
    );
}
