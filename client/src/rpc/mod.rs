//! A client of CometBFT's JSON-RPC, the subset ehr-ledger's services and CLI
//! use. It talks to a real CometBFT node or to `ehr-node dev` alike.

pub mod light;
pub mod proven;
pub mod trust;
pub mod types;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use prost::Message;
use serde::de::DeserializeOwned;
use serde_json::json;

use ehr_ledger::crypto::Address;
use ehr_ledger::ledger::query::{decode_proof, Paged, QueryCode};
use ehr_ledger::proto::Account;
use ehr_ledger::storage::StateProof;
pub use types::*;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("the node at {url} cannot be reached ({reason}); is it running, and is --node right?")]
    Unreachable { url: String, reason: String },
    #[error("the node at {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the node refused the call {method}: {message} {data}")]
    Rpc {
        method: String,
        message: String,
        data: String,
    },
    #[error("the node's answer to {method} could not be read: {reason}")]
    Decode { method: String, reason: String },
    #[error("query {path} failed with code {code}: {log}")]
    Query {
        path: String,
        code: u32,
        log: String,
    },
    #[error("{what} refused: {log}")]
    Refused { what: &'static str, log: String },
    #[error("{what} not committed within {secs} s")]
    NotCommitted { what: &'static str, secs: u64 },
    #[error("the node's answer to {method} is larger than the {limit} bytes taken")]
    TooLarge { method: String, limit: usize },
}

/// The largest answer read from a node unless a caller asks for less: a
/// node (or what stands in for it) cannot make a reader buffer without end.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// The most pages of one list a reader walks (ten million items).
pub const MAX_PAGES: usize = 10_000;

/// Where the services and the CLI find the chain unless told otherwise: the
/// local CometBFT node's RPC (or `ehr-node dev`).
pub const DEFAULT_NODE_URL: &str = "http://127.0.0.1:26657";

#[derive(Clone)]
pub struct RpcClient {
    url: String,
    http: reqwest::Client,
}

/// A query answer decoded, with its height and, when asked, its proof. The
/// state key the node says it answered is left out on purpose: a proof is
/// checked against the key the reader derives from the path it asked
/// (`ledger::query::state_key`).
pub struct Proven<M> {
    pub value: Option<M>,
    pub raw: Vec<u8>,
    pub height: u64,
    pub proof: Option<StateProof>,
}

impl RpcClient {
    /// A client with the process's TLS (`transport::install`).
    pub fn new(url: &str) -> Self {
        Self::using(url, &ehr_transport::process())
    }

    /// A client with the TLS given: the authorities it trusts for an
    /// `https://` node, and its own certificate when the node asks for one.
    pub fn using(url: &str, transport: &ehr_transport::Transport) -> Self {
        let url = url.trim_end_matches('/').to_string();
        let http = transport.http(std::time::Duration::from_secs(60));
        Self { url, http }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<T, RpcError> {
        self.call_capped(method, params, MAX_ANSWER_BYTES).await
    }

    /// A call whose answer is read only up to `limit` bytes.
    pub async fn call_capped<T: DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
        limit: usize,
    ) -> Result<T, RpcError> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| RpcError::Unreachable {
                url: self.url.clone(),
                reason: ehr_transport::explain(&e),
            })?;
        let status = response.status().as_u16();
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(piece) = response.chunk().await.map_err(|e| RpcError::Unreachable {
            url: self.url.clone(),
            reason: ehr_transport::explain(&e),
        })? {
            if bytes.len() + piece.len() > limit {
                return Err(RpcError::TooLarge {
                    method: method.into(),
                    limit,
                });
            }
            bytes.extend_from_slice(&piece);
        }
        let text = String::from_utf8_lossy(&bytes);
        let envelope: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| RpcError::Http {
                url: self.url.clone(),
                status,
                body: text.chars().take(200).collect(),
            })?;
        if let Some(error) = envelope.get("error") {
            return Err(RpcError::Rpc {
                method: method.into(),
                message: error
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or_default()
                    .into(),
                data: error
                    .get("data")
                    .and_then(|m| m.as_str())
                    .unwrap_or_default()
                    .into(),
            });
        }
        serde_json::from_value(envelope.get("result").cloned().unwrap_or_default()).map_err(|e| {
            RpcError::Decode {
                method: method.into(),
                reason: e.to_string(),
            }
        })
    }

    pub async fn status(&self) -> Result<Status, RpcError> {
        self.call("status", json!({})).await
    }

    /// The chain's id, as the node reports it.
    pub async fn chain_id(&self) -> Result<String, RpcError> {
        Ok(self.status().await?.node_info.network)
    }

    /// The latest committed height, 0 when the node cannot tell.
    pub async fn latest_height(&self) -> Result<u64, RpcError> {
        let s = self.status().await?;
        Ok(s.sync_info.latest_block_height.parse().unwrap_or(0))
    }

    pub async fn broadcast_tx_sync(&self, tx: &[u8]) -> Result<BroadcastTxSync, RpcError> {
        self.call("broadcast_tx_sync", json!({ "tx": B64.encode(tx) }))
            .await
    }

    /// Hands the transaction to the node without waiting for CheckTx (its
    /// answer's code is always 0: a refusal shows only as a missing commit).
    pub async fn broadcast_tx_async(&self, tx: &[u8]) -> Result<BroadcastTxSync, RpcError> {
        self.call("broadcast_tx_async", json!({ "tx": B64.encode(tx) }))
            .await
    }

    /// Submits and waits until the transaction is in a committed block (or refused by CheckTx).
    pub async fn broadcast_tx_commit(&self, tx: &[u8]) -> Result<BroadcastTxCommit, RpcError> {
        self.call("broadcast_tx_commit", json!({ "tx": B64.encode(tx) }))
            .await
    }

    pub async fn tx(&self, hash: &[u8; 32]) -> Result<TxInfo, RpcError> {
        self.call("tx", json!({ "hash": B64.encode(hash), "prove": false }))
            .await
    }

    /// Waits until the transaction is found in a committed block; `None` if
    /// it is not within `timeout`.
    pub async fn wait_for_tx(
        &self,
        hash: &[u8; 32],
        timeout: std::time::Duration,
    ) -> Option<TxInfo> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(found) = self.tx(hash).await {
                return Some(found);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn block(&self, height: Option<u64>) -> Result<BlockResponse, RpcError> {
        let params = match height {
            Some(h) => json!({ "height": h.to_string() }),
            None => json!({}),
        };
        self.call("block", params).await
    }

    /// The headers of blocks `min..=max`, newest first: at most 20 a call,
    /// as CometBFT's `blockchain` gives them.
    pub async fn headers(&self, min: u64, max: u64) -> Result<Vec<Header>, RpcError> {
        let chain: BlockchainInfo = self
            .call(
                "blockchain",
                json!({ "minHeight": min.to_string(), "maxHeight": max.to_string() }),
            )
            .await?;
        Ok(chain.block_metas.into_iter().map(|m| m.header).collect())
    }

    /// The results of block `height`: its transactions' codes and events.
    pub async fn block_results(&self, height: u64) -> Result<BlockResults, RpcError> {
        self.call("block_results", json!({ "height": height.to_string() }))
            .await
    }

    /// The events of the transactions block `height` accepted — what a
    /// service follows to learn of a change, and then proves before acting.
    pub async fn committed_events(&self, height: u64) -> Result<Vec<types::Event>, RpcError> {
        Ok(self
            .block_results(height)
            .await?
            .txs_results
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.code == 0)
            .flat_map(|r| r.events)
            .collect())
    }

    pub async fn abci_query(
        &self,
        path: &str,
        data: &[u8],
        height: u64,
        prove: bool,
    ) -> Result<QueryResponse, RpcError> {
        let answer: AbciQuery = self
            .call(
                "abci_query",
                json!({ "path": path, "data": hex::encode(data), "height": height.to_string(), "prove": prove }),
            )
            .await?;
        Ok(answer.response)
    }

    /// Queries a path and decodes its protobuf answer; `None` when nothing is stored.
    pub async fn query<M: Message + Default>(&self, path: &str) -> Result<Option<M>, RpcError> {
        Ok(self.query_proven(path, 0, false).await?.value)
    }

    /// Every item of a list path, page after page (`?after=<next_after>`).
    /// The pages must move forward, and there are at most `MAX_PAGES` of
    /// them: a node cannot keep a reader walking for ever.
    pub async fn query_all<L: Paged>(&self, path: &str) -> Result<Vec<L::Item>, RpcError> {
        self.query_pages::<L>(path, ehr_ledger::ledger::query::LIST_LIMIT)
            .await
    }

    /// The same, `size` items a page.
    pub async fn query_pages<L: Paged>(
        &self,
        path: &str,
        size: usize,
    ) -> Result<Vec<L::Item>, RpcError> {
        let mut items = Vec::new();
        let mut after: Vec<u8> = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = match after.is_empty() {
                true => format!("{path}?limit={size}"),
                false => format!("{path}?limit={size}&after={}", hex::encode(&after)),
            };
            let (some, next) = self
                .query::<L>(&page)
                .await?
                .unwrap_or_default()
                .into_page();
            items.extend(some);
            if next.is_empty() {
                return Ok(items);
            }
            let next = hex::decode(&next).unwrap_or_default();
            if next <= after {
                return Err(RpcError::Decode {
                    method: path.into(),
                    reason: "the node's next page does not start after the last".into(),
                });
            }
            after = next;
        }
        Err(RpcError::Decode {
            method: path.into(),
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }

    pub async fn query_proven<M: Message + Default>(
        &self,
        path: &str,
        height: u64,
        prove: bool,
    ) -> Result<Proven<M>, RpcError> {
        let r = self.abci_query(path, &[], height, prove).await?;
        let decode_b64 = |s: &Option<String>| {
            B64.decode(s.as_deref().unwrap_or_default())
                .unwrap_or_default()
        };
        if r.code != QueryCode::Ok as u32 && r.code != QueryCode::NotFound as u32 {
            return Err(RpcError::Query {
                path: path.into(),
                code: r.code,
                log: r.log,
            });
        }
        let raw = decode_b64(&r.value);
        let value = if r.code == QueryCode::Ok as u32 {
            Some(M::decode(raw.as_slice()).map_err(|e| RpcError::Decode {
                method: path.into(),
                reason: e.to_string(),
            })?)
        } else {
            None
        };
        let proof = match r.proof_ops.as_ref().and_then(|p| p.ops.first()) {
            Some(op) => Some(
                decode_proof(&B64.decode(&op.data).unwrap_or_default()).map_err(|e| {
                    RpcError::Decode {
                        method: path.into(),
                        reason: e.to_string(),
                    }
                })?,
            ),
            None => None,
        };
        Ok(Proven {
            value,
            raw,
            height: r.height.parse().unwrap_or(0),
            proof,
        })
    }

    /// The nonce the account's next transaction must carry.
    pub async fn next_nonce(&self, address: &Address) -> Result<u64, RpcError> {
        let account: Option<Account> = self.query(&format!("/account/{address}")).await?;
        Ok(account.map_or(0, |a| a.nonce) + 1)
    }
}

/// Upper-case hex of a transaction's hash, as CometBFT prints it.
pub fn tx_hash_hex(tx: &[u8]) -> String {
    hex::encode_upper(ehr_ledger::crypto::sha256(tx))
}
