//! POST /chain: the web portal's way to the chain. The page is served from
//! this gateway's origin, so it asks the chain through it rather than across
//! origins; the relay passes on a few JSON-RPC calls to this gateway's node
//! unchanged — queries, blocks and already-signed transactions — and
//! nothing else. It adds no trust: transactions are signed in the page, and
//! what the page verifies it checks by state proofs.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use ehr_client::rpc::RpcError;
use serde_json::{json, Value};

use crate::error::{ErrorCode, Failure};

use super::Shared;

/// The calls passed on: reads of the chain, and broadcasting a signed
/// transaction (CheckTx's answer comes back; the page waits for the block
/// with `tx`).
pub const RELAYED: &[&str] = &["status", "abci_query", "block", "tx", "broadcast_tx_sync"];

/// A JSON-RPC request of the largest transaction CometBFT takes (1 MiB,
/// base64) fits; anything larger is not a call the relay passes.
pub const MAX_CALL_BYTES: usize = 1_500_000;

fn refused(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::BadChainCall, message)
}

pub(super) async fn relay(State(g): Shared, body: Bytes) -> Result<Json<Value>, Failure> {
    if body.len() > MAX_CALL_BYTES {
        return Err(refused(format!(
            "a chain call is at most {MAX_CALL_BYTES} bytes; this one has {}",
            body.len()
        )));
    }
    let call: Value = serde_json::from_slice(&body).map_err(|e| {
        refused(format!(
            "the body is not a JSON-RPC call ({e}); send {{\"method\": …, \"params\": {{…}}}}"
        ))
    })?;
    let method = call
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| refused("the call names no \"method\""))?;
    if !RELAYED.contains(&method) {
        return Err(refused(format!(
            "the gateway passes only {} to the chain, not {method:?}",
            RELAYED.join(", ")
        )));
    }
    // Held to the description (docs/gateway.openapi.yaml): a call that is
    // not well formed is refused rather than guessed at.
    let params = match call.get("params") {
        None => json!({}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => return Err(refused("\"params\" must be an object of named parameters")),
    };
    if call.get("jsonrpc").is_some_and(|v| !v.is_string()) {
        return Err(refused("\"jsonrpc\" must be a string (\"2.0\")"));
    }
    if call.get("id").is_some_and(|v| !v.is_i64() && !v.is_u64()) {
        return Err(refused("\"id\" must be an integer"));
    }
    match g.rpc.call::<Value>(method, params).await {
        Ok(result) => Ok(Json(json!({ "result": result }))),
        // The node's own refusal (a malformed height, an unknown transaction…)
        // goes back as the node said it.
        Err(RpcError::Rpc { message, data, .. }) => Err(refused(
            format!("the chain refused {method}: {message} {data}")
                .trim_end()
                .to_string(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, method, "the chain did not answer a relayed call");
            Err(Failure::new(
                ErrorCode::ChainUnavailable,
                "the gateway cannot reach its chain node right now; try again shortly",
            ))
        }
    }
}
