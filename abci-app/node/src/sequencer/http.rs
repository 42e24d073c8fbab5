//! CometBFT's JSON-RPC, the subset the clients use: `status`, `health`,
//! `abci_info`, `abci_query`, `broadcast_tx_sync`, `broadcast_tx_async`,
//! `broadcast_tx_commit`, `tx`, `block`, `block_results` — by POST (JSON-RPC
//! 2.0) or GET (`/status`, `/abci_query?path="…"`), with CometBFT's shapes.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use super::blockstore::StoredBlock;
use super::{Sequencer, SequencerError};
use ehr_client::rpc::*;
use ehr_ledger::ledger::query::encode_proof;
use ehr_ledger::time::rfc3339;

/// How long broadcast_tx_commit waits for the block (CometBFT's default is 10 s).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(s: Sequencer) -> Router {
    Router::new()
        .route("/", post(json_rpc))
        .route("/{method}", get(uri))
        .with_state(s)
}

struct RpcFailure {
    code: i64,
    message: String,
    data: String,
}

impl RpcFailure {
    fn invalid(data: impl Into<String>) -> Self {
        Self {
            code: -32602,
            message: "Invalid params".into(),
            data: data.into(),
        }
    }
    fn internal(data: impl Into<String>) -> Self {
        Self {
            code: -32603,
            message: "Internal error".into(),
            data: data.into(),
        }
    }
}

impl From<super::blockstore::StoreError> for RpcFailure {
    fn from(e: super::blockstore::StoreError) -> Self {
        RpcFailure::internal(e.to_string())
    }
}

impl From<SequencerError> for RpcFailure {
    fn from(e: SequencerError) -> Self {
        RpcFailure::internal(e.to_string())
    }
}

fn envelope(id: Value, result: Result<Value, RpcFailure>) -> Json<Value> {
    Json(match result {
        Ok(r) => json!({ "jsonrpc": "2.0", "id": id, "result": r }),
        Err(e) => {
            json!({ "jsonrpc": "2.0", "id": id, "error": { "code": e.code, "message": e.message, "data": e.data } })
        }
    })
}

async fn json_rpc(State(s): State<Sequencer>, body: axum::body::Bytes) -> Json<Value> {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return envelope(
                Value::from(-1),
                Err(RpcFailure {
                    code: -32700,
                    message: "Parse error".into(),
                    data: e.to_string(),
                }),
            )
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::from(-1));
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let params = request.get("params").cloned().unwrap_or(json!({}));
    envelope(id, dispatch(&s, &method, &params).await)
}

/// GET /method?param=value: strings may be quoted, bytes given as 0x-hex.
async fn uri(
    State(s): State<Sequencer>,
    Path(method): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let mut params = serde_json::Map::new();
    for (k, v) in q {
        let v = v.trim_matches('"').to_string();
        let v = match (k.as_str(), v.strip_prefix("0x")) {
            ("tx" | "hash", Some(hexed)) => B64.encode(hex::decode(hexed).unwrap_or_default()),
            ("data", Some(hexed)) => hexed.to_string(),
            _ => v,
        };
        params.insert(k, Value::String(v));
    }
    envelope(
        Value::from(-1),
        dispatch(&s, &method, &Value::Object(params)).await,
    )
}

fn param<'a>(params: &'a Value, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str)
}

fn param_u64(params: &Value, name: &str) -> Result<Option<u64>, RpcFailure> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| RpcFailure::invalid(format!("{name} must be a non-negative integer"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| RpcFailure::invalid(format!("{name} {s:?} is not a number"))),
        Some(_) => Err(RpcFailure::invalid(format!("{name} must be a number"))),
    }
}

fn param_bytes(params: &Value, name: &str) -> Result<Vec<u8>, RpcFailure> {
    let s = param(params, name).ok_or_else(|| RpcFailure::invalid(format!("missing {name}")))?;
    B64.decode(s)
        .map_err(|_| RpcFailure::invalid(format!("{name} must be base64")))
}

fn to_value<T: serde::Serialize>(t: T) -> Result<Value, RpcFailure> {
    serde_json::to_value(t).map_err(|e| RpcFailure::internal(e.to_string()))
}

async fn dispatch(s: &Sequencer, method: &str, params: &Value) -> Result<Value, RpcFailure> {
    match method {
        "health" => Ok(json!({})),
        "status" => to_value(status(s)?),
        "abci_info" => {
            let ledger = s.ledger();
            let st = ledger
                .status()
                .map_err(|e| RpcFailure::internal(e.to_string()))?;
            Ok(json!({ "response": {
                "data": "ehr-ledger",
                "version": env!("CARGO_PKG_VERSION"),
                "app_version": "1",
                "last_block_height": st.as_ref().map_or(0, |s| s.block_height).to_string(),
                "last_block_app_hash": B64.encode(st.map(|s| s.app_hash).unwrap_or_default()),
            }}))
        }
        "abci_query" => {
            let path = param(params, "path").unwrap_or_default();
            let data = hex::decode(param(params, "data").unwrap_or_default())
                .map_err(|_| RpcFailure::invalid("data must be hex"))?;
            let height = param_u64(params, "height")?.unwrap_or(0);
            let prove = match params.get("prove") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s == "true",
                _ => false,
            };
            let a = s.ledger().query(path, &data, height, prove);
            to_value(AbciQuery {
                response: QueryResponse {
                    code: a.code as u32,
                    log: a.log,
                    info: String::new(),
                    index: "0".into(),
                    key: Some(B64.encode(&a.key)),
                    value: Some(B64.encode(&a.value)),
                    proof_ops: a.proof.map(|p| ProofOps {
                        ops: vec![ProofOp {
                            kind: crate::abci::query_proof_type().into(),
                            key: B64.encode(&a.key),
                            data: B64.encode(encode_proof(&p)),
                        }],
                    }),
                    height: a.height.to_string(),
                    codespace: if a.code as u32 == 0 {
                        String::new()
                    } else {
                        crate::abci::CODESPACE.into()
                    },
                },
            })
        }
        "broadcast_tx_sync" | "broadcast_tx_async" => {
            let tx = param_bytes(params, "tx")?;
            let hash = tx_hash_hex(&tx);
            let me = s.clone();
            let check = tokio::task::spawn_blocking(move || me.submit(tx))
                .await
                .map_err(|e| RpcFailure::internal(e.to_string()))??;
            to_value(BroadcastTxSync {
                code: check.code,
                data: None,
                log: check.log,
                codespace: check.codespace,
                hash,
            })
        }
        "broadcast_tx_commit" => {
            let tx = param_bytes(params, "tx")?;
            let hash = ehr_ledger::crypto::sha256(&tx);
            let mut committed = s.subscribe();
            let me = s.clone();
            let check = tokio::task::spawn_blocking(move || me.submit(tx))
                .await
                .map_err(|e| RpcFailure::internal(e.to_string()))??;
            if check.code != 0 {
                return to_value(BroadcastTxCommit {
                    check_tx: check,
                    tx_result: TxResult::default(),
                    hash: hex::encode_upper(hash),
                    height: "0".into(),
                });
            }
            let wait = async {
                loop {
                    match committed.recv().await {
                        Ok(c) if c.hash == hash => return Some(c),
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return None,
                    }
                }
            };
            match tokio::time::timeout(COMMIT_TIMEOUT, wait).await {
                Ok(Some(c)) => to_value(BroadcastTxCommit { check_tx: check, tx_result: c.result, hash: hex::encode_upper(hash), height: c.height.to_string() }),
                // It may have been committed before the subscription saw it.
                _ => match s.store().find_tx(&hash)? {
                    Some((height, index)) => {
                        let result = stored(s, height)?.results.and_then(|r| r.get(index as usize).cloned()).unwrap_or_default();
                        to_value(BroadcastTxCommit { check_tx: check, tx_result: result, hash: hex::encode_upper(hash), height: height.to_string() })
                    }
                    None => Err(RpcFailure::internal("timed out waiting for the transaction to be committed; it is still in the mempool")),
                },
            }
        }
        "tx" => {
            let hash: [u8; 32] = param_bytes(params, "hash")?
                .try_into()
                .map_err(|_| RpcFailure::invalid("hash must be 32 bytes"))?;
            let (height, index) = s.store().find_tx(&hash)?.ok_or_else(|| {
                RpcFailure::internal(format!("tx ({}) not found", hex::encode_upper(hash)))
            })?;
            let block = stored(s, height)?;
            to_value(TxInfo {
                hash: hex::encode_upper(hash),
                height: height.to_string(),
                index,
                tx_result: block
                    .results
                    .as_ref()
                    .and_then(|r| r.get(index as usize).cloned())
                    .unwrap_or_default(),
                tx: block.txs.get(index as usize).cloned().unwrap_or_default(),
            })
        }
        "block" => {
            let block = stored(s, height_or_latest(s, params)?)?;
            to_value(BlockResponse {
                block_id: BlockId {
                    hash: hex::encode_upper(block.hash()),
                },
                block: Block {
                    header: Header {
                        chain_id: s.chain_id().into(),
                        height: block.height.to_string(),
                        time: rfc3339(block.time),
                        app_hash: previous_app_hash(s, block.height)?,
                        proposer_address: String::new(),
                    },
                    data: BlockData {
                        txs: Some(block.txs.clone()),
                    },
                },
            })
        }
        "block_results" => {
            let block = stored(s, height_or_latest(s, params)?)?;
            to_value(BlockResults {
                height: block.height.to_string(),
                txs_results: block.results,
                app_hash: block.app_hash,
            })
        }
        other => Err(RpcFailure {
            code: -32601,
            message: "Method not found".into(),
            data: format!("{other} is not served by the dev sequencer"),
        }),
    }
}

fn height_or_latest(s: &Sequencer, params: &Value) -> Result<u64, RpcFailure> {
    match param_u64(params, "height")? {
        Some(h) => Ok(h),
        None => Ok(s.store().latest_height()?),
    }
}

fn stored(s: &Sequencer, height: u64) -> Result<StoredBlock, RpcFailure> {
    s.store()
        .get(height)?
        .filter(|b| b.results.is_some())
        .ok_or_else(|| RpcFailure::invalid(format!("height {height} is not available")))
}

/// CometBFT's header at H carries the app hash after block H−1.
fn previous_app_hash(s: &Sequencer, height: u64) -> Result<String, RpcFailure> {
    Ok(match height.checked_sub(1).filter(|h| *h > 0) {
        Some(h) => stored(s, h)?.app_hash,
        None => String::new(),
    })
}

fn status(s: &Sequencer) -> Result<Status, RpcFailure> {
    let ledger = s.ledger();
    let st = ledger
        .status()
        .map_err(|e| RpcFailure::internal(e.to_string()))?
        .unwrap_or(ehr_ledger::ledger::ChainStatus {
            chain_id: s.chain_id().into(),
            block_height: 0,
            block_time: 0,
            app_hash: [0; 32],
        });
    drop(ledger);
    let block_hash = match s.store().get(st.block_height)? {
        Some(b) => hex::encode_upper(b.hash()),
        None => String::new(),
    };
    Ok(Status {
        node_info: NodeInfo {
            id: "dev-sequencer".into(),
            network: st.chain_id,
            version: format!(
                "ehr-node {} dev sequencer (one sequencer, not BFT)",
                env!("CARGO_PKG_VERSION")
            ),
            moniker: "ehr-dev".into(),
        },
        sync_info: SyncInfo {
            latest_block_hash: block_hash,
            latest_app_hash: hex::encode_upper(st.app_hash),
            latest_block_height: st.block_height.to_string(),
            latest_block_time: rfc3339(st.block_time),
            // The sequencer keeps every block from the first.
            earliest_block_height: "1".into(),
            catching_up: false,
        },
        validator_info: json!({}),
    })
}
