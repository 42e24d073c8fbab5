//! The JSON shapes of CometBFT v0.38's RPC results that ehr-ledger uses.
//! Integers of 64 bits travel as strings, bytes as base64, hashes as upper-case
//! hex, as CometBFT writes them. Unknown fields are ignored when reading, so
//! the same types read a real CometBFT node's answers.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Status {
    pub node_info: NodeInfo,
    pub sync_info: SyncInfo,
    #[serde(default)]
    pub validator_info: serde_json::Value,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NodeInfo {
    #[serde(default)]
    pub id: String,
    pub network: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub moniker: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncInfo {
    pub latest_block_hash: String,
    pub latest_app_hash: String,
    pub latest_block_height: String,
    pub latest_block_time: String,
    /// The first block this node has (above 1 on a node that joined by
    /// state sync or prunes its blocks).
    #[serde(default)]
    pub earliest_block_height: String,
    #[serde(default)]
    pub catching_up: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAttribute {
    pub key: String,
    pub value: String,
    #[serde(default)]
    pub index: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub attributes: Vec<EventAttribute>,
}

impl Event {
    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| a.value.as_str())
    }
}

/// CheckTx's and FinalizeBlock's result of one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxResult {
    #[serde(default)]
    pub code: u32,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub log: String,
    #[serde(default)]
    pub info: String,
    #[serde(default)]
    pub gas_wanted: String,
    #[serde(default)]
    pub gas_used: String,
    #[serde(default)]
    pub events: Vec<Event>,
    #[serde(default)]
    pub codespace: String,
}

impl TxResult {
    /// The value of attribute `key` in the first event of type `kind`.
    pub fn attribute(&self, kind: &str, key: &str) -> Option<&str> {
        self.events
            .iter()
            .filter(|e| e.kind == kind)
            .find_map(|e| e.attribute(key))
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BroadcastTxSync {
    pub code: u32,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub log: String,
    #[serde(default)]
    pub codespace: String,
    pub hash: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BroadcastTxCommit {
    pub check_tx: TxResult,
    #[serde(alias = "deliver_tx")]
    pub tx_result: TxResult,
    pub hash: String,
    pub height: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProofOp {
    #[serde(rename = "type")]
    pub kind: String,
    pub key: String,
    pub data: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProofOps {
    pub ops: Vec<ProofOp>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct QueryResponse {
    #[serde(default)]
    pub code: u32,
    #[serde(default)]
    pub log: String,
    #[serde(default)]
    pub info: String,
    #[serde(default)]
    pub index: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, rename = "proofOps")]
    pub proof_ops: Option<ProofOps>,
    #[serde(default)]
    pub height: String,
    #[serde(default)]
    pub codespace: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AbciQuery {
    pub response: QueryResponse,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TxInfo {
    pub hash: String,
    pub height: String,
    pub index: u32,
    pub tx_result: TxResult,
    pub tx: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BlockId {
    pub hash: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Header {
    pub chain_id: String,
    pub height: String,
    pub time: String,
    #[serde(default)]
    pub app_hash: String,
    #[serde(default)]
    pub proposer_address: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BlockData {
    #[serde(default)]
    pub txs: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Block {
    pub header: Header,
    pub data: BlockData,
}

/// A block's id and header, as `blockchain` lists them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BlockMeta {
    pub header: Header,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BlockchainInfo {
    pub block_metas: Vec<BlockMeta>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BlockResponse {
    pub block_id: BlockId,
    pub block: Block,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BlockResults {
    pub height: String,
    #[serde(default)]
    pub txs_results: Option<Vec<TxResult>>,
    #[serde(default)]
    pub app_hash: String,
}
