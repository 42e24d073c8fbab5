//! POST /chain: the web portal's way to the chain. The page is served from
//! this gateway's origin, so it asks the chain through it rather than across
//! origins; the relay passes on a few JSON-RPC calls to this gateway's node —
//! queries, block headers and the caller's own signed transactions — and
//! nothing else. Every call is a signed request (as /v1 is), limited in rate
//! per key and per network address, scoped to what is the signer's
//! (`scope.rs`), logged with its caller, and answered only up to a size. It
//! adds no trust: transactions are signed in the page, and what the page
//! verifies it checks by state proofs.

mod scope;

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ehr_client::rpc::RpcError;
use serde_json::{json, Value};

use crate::auth::authenticate;
use crate::error::{ErrorCode, Failure};
use crate::limits::Slow;

use super::Shared;

/// The calls passed on: reads of the chain, and broadcasting a signed
/// transaction (CheckTx's answer comes back; the page waits for the block
/// with `tx`).
pub const RELAYED: &[&str] = &["status", "abci_query", "block", "tx", "broadcast_tx_sync"];

/// A JSON-RPC request of the largest transaction CometBFT takes (1 MiB,
/// base64) fits; anything larger is not a call the relay passes.
pub const MAX_CALL_BYTES: usize = 1_500_000;

/// The largest answer of the node the relay reads and passes on: a list of
/// a thousand grants or staff fits many times over; a 60-byte call cannot
/// make the gateway hold more.
pub const MAX_ANSWER_BYTES: usize = 2 << 20;

fn refused(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::BadChainCall, message)
}

pub(in crate::routes) fn too_fast(slow: Slow) -> Response {
    let secs = slow.retry_after.as_secs() + 1;
    let whose = if slow.by_key {
        "this key"
    } else {
        "this network address"
    };
    let mut response = Failure::new(
        ErrorCode::RateLimited,
        format!(
            "{whose} asks the chain faster than the gateway answers anyone; try again in {secs} s"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from(secs));
    response
}

/// The caller's network address (loopback when the listener gives none).
pub(in crate::routes) fn caller_ip(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    peer.map_or(IpAddr::from([127, 0, 0, 1]), |Extension(ConnectInfo(a))| {
        a.ip()
    })
}

pub(super) async fn relay(
    State(g): Shared,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Response> {
    g.relay_limits.address(caller_ip(peer)).map_err(too_fast)?;
    if body.len() > MAX_CALL_BYTES {
        return Err(refused(format!(
            "a chain call is at most {MAX_CALL_BYTES} bytes; this one has {}",
            body.len()
        ))
        .into_response());
    }
    let caller = authenticate(&g, &method, &uri, &headers, &body)
        .await
        .map_err(IntoResponse::into_response)?;
    g.relay_limits.key(&caller.address).map_err(too_fast)?;
    let (method, params) = parse(&body).map_err(IntoResponse::into_response)?;
    let who = scope::Who {
        person: caller.address,
        key: caller.public_key.address(),
    };
    let check = scope::before(&g.chain, &who, &method, &params)
        .await
        .map_err(|f| {
            tracing::info!(caller = %caller.address, method, code = f.code.as_str(), "chain call refused");
            f.into_response()
        })?;
    tracing::info!(caller = %caller.address, method, "chain call relayed");
    let answer = match g.rpc.call_capped::<Value>(&method, params, MAX_ANSWER_BYTES).await {
        Ok(result) => result,
        // A transaction not in a block yet is what a page polling for its
        // own transaction expects to hear most times it asks: an answer
        // (null), not a failure its browser logs as an error.
        Err(RpcError::Rpc { data, .. }) if method == "tx" && data.contains("not found") => {
            return Ok(Json(json!({ "result": null })))
        }
        // The node's own refusal (a malformed height…) goes back as the node
        // said it.
        Err(RpcError::Rpc { message, data, .. }) => {
            return Err(refused(
                format!("the chain refused {method}: {message} {data}")
                    .trim_end()
                    .to_string(),
            )
            .into_response())
        }
        Err(RpcError::TooLarge { limit, .. }) => {
            return Err(Failure::new(
                ErrorCode::ChainAnswerTooLarge,
                format!("the chain's answer to {method} is larger than the {limit} bytes the relay passes; ask for less"),
            )
            .into_response())
        }
        Err(e) => {
            tracing::warn!(error = %e, method, "the chain did not answer a relayed call");
            return Err(Failure::new(
                ErrorCode::ChainUnavailable,
                "the gateway cannot reach its chain node right now; try again shortly",
            )
            .into_response());
        }
    };
    let answer = scope::after(&g.chain, &who, check, answer)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Json(json!({ "result": answer })))
}

/// The call's method and named parameters, held to the description
/// (docs/gateway.openapi.yaml): a call that is not well formed is refused
/// rather than guessed at.
fn parse(body: &[u8]) -> Result<(String, Value), Failure> {
    let call: Value = serde_json::from_slice(body).map_err(|e| {
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
    Ok((method.to_string(), params))
}
