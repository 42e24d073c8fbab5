//! An RPC endpoint in front of a real node that forwards every call and lies
//! on the way: `ask` may change a request before it goes up (another path, say),
//! `tell` may change the answer, knowing the request, before it comes back (a
//! header's app hash, the node's version, a query's value). What a node of
//! another hospital, or anyone on the network path, could do.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// Changes a JSON-RPC request in place.
pub type Ask = fn(&mut Value);
/// Changes the answer to a request in place.
pub type Tell = fn(&Value, &mut Value);

pub struct LyingNode {
    pub url: String,
    _runtime: tokio::runtime::Runtime,
}

struct Upstream {
    url: String,
    ask: Ask,
    tell: Tell,
}

async fn forward(State(up): State<Arc<Upstream>>, body: axum::body::Bytes) -> String {
    let mut request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (up.ask)(&mut request);
    let answer = ehr_transport::process()
        .http(std::time::Duration::from_secs(60))
        .post(&up.url)
        .json(&request)
        .send()
        .await
        .expect("the real node answers")
        .text()
        .await
        .expect("the real node's answer is text");
    let mut json: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    (up.tell)(&request, &mut json);
    json.to_string()
}

/// Leaves a request as it is.
pub fn honest(_: &mut Value) {}

/// Leaves an answer as it is.
pub fn truthful(_: &Value, _: &mut Value) {}

/// Every header's app hash replaced.
pub fn other_app_hash(_: &Value, json: &mut Value) {
    for header in [
        "/result/signed_header/header/app_hash",
        "/result/block/header/app_hash",
    ] {
        if let Some(h) = json.pointer_mut(header) {
            *h = Value::from("AB".repeat(32));
        }
    }
}

impl LyingNode {
    pub fn start(upstream: &str, ask: Ask, tell: Tell) -> LyingNode {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the lying node");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a port for the lying node");
        let addr: SocketAddr = listener.local_addr().expect("its address");
        let app = Router::new()
            .route("/", post(forward))
            .with_state(Arc::new(Upstream {
                url: upstream.to_string(),
                ask,
                tell,
            }));
        runtime.spawn(async move { axum::serve(listener, app).await });
        LyingNode {
            url: format!("http://{addr}"),
            _runtime: runtime,
        }
    }
}
