//! A client of an Ethereum node's JSON-RPC: the same JSON-RPC 2.0 envelope
//! CometBFT speaks, so it rides on `rpc::RpcClient` (its TLS, its cap on an
//! answer's size) and adds Ethereum's methods, signed transactions and
//! waiting for receipts.

use std::time::Duration;

use ehr_ledger::crypto::SecretKey;
use serde_json::{json, Value};

use super::rlp::{self, Item};
use super::{data, keccak256, quantity, EthAddress};
use crate::rpc::{RpcClient, RpcError};

/// How long a transaction may take to be mined before the caller is told.
const RECEIPT_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum EthError {
    #[error("the Ethereum node: {0}")]
    Rpc(#[from] RpcError),
    /// The call or transaction would revert; `data` is the contract's error.
    #[error("the contract refused {call}: {reason}")]
    Reverted {
        call: String,
        reason: String,
        data: Vec<u8>,
    },
    #[error("transaction {tx} was mined but failed (status 0, {gas_used} gas spent)")]
    Failed { tx: String, gas_used: u64 },
    #[error("transaction {tx} was not mined within {secs} s; is the Ethereum node mining?")]
    NotMined { tx: String, secs: u64 },
    #[error("the Ethereum node's answer to {method} could not be read: {reason}")]
    Malformed { method: String, reason: String },
}

/// A mined transaction's receipt, as far as it matters here.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub tx_hash: String,
    pub block_number: u64,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    pub contract_address: Option<EthAddress>,
}

/// Which of Ethereum's states a read sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockTag {
    /// The newest block: what a writer acts on, and what a reorganisation
    /// may still undo.
    Latest,
    /// A block the chain's attestations make unlikely to be undone.
    Safe,
    /// A finalized block: undoing it would cost a third of all stake
    /// (about 13 minutes behind the newest on mainnet; on `geth --dev`,
    /// the last multiple of 32 blocks).
    Finalized,
}

impl BlockTag {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockTag::Latest => "latest",
            BlockTag::Safe => "safe",
            BlockTag::Finalized => "finalized",
        }
    }
}

impl std::fmt::Display for BlockTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BlockTag {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "latest" => Ok(BlockTag::Latest),
            "safe" => Ok(BlockTag::Safe),
            "finalized" => Ok(BlockTag::Finalized),
            _ => Err(format!("{s:?} is not one of finalized, safe, latest")),
        }
    }
}

/// A state of Ethereum to read: named by a tag, which the node resolves at
/// each read, or pinned to the block a tag named once, so that several reads
/// see one state however the chain moves between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockRef {
    Tag(BlockTag),
    Pinned { tag: BlockTag, number: u64 },
}

impl BlockRef {
    /// The tag it was named by.
    pub fn tag(self) -> BlockTag {
        match self {
            BlockRef::Tag(tag) | BlockRef::Pinned { tag, .. } => tag,
        }
    }

    fn param(self) -> String {
        match self {
            BlockRef::Tag(tag) => tag.as_str().into(),
            BlockRef::Pinned { number, .. } => format!("{number:#x}"),
        }
    }
}

/// An event a contract emitted, as far as it matters here.
#[derive(Clone, Debug)]
pub struct Log {
    pub address: EthAddress,
    pub block_number: u64,
    pub topics: Vec<[u8; 32]>,
    pub data: Vec<u8>,
}

#[derive(Clone)]
pub struct EthClient {
    rpc: RpcClient,
}

fn malformed(method: &str, reason: impl Into<String>) -> EthError {
    EthError::Malformed {
        method: method.into(),
        reason: reason.into(),
    }
}

fn hex_data(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

impl EthClient {
    pub fn new(url: &str) -> Self {
        Self {
            rpc: RpcClient::new(url),
        }
    }

    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    async fn number(&self, method: &str, params: Value) -> Result<u128, EthError> {
        let s: String = self.rpc.call(method, params).await?;
        quantity(&s).ok_or_else(|| malformed(method, format!("{s} is not a hex quantity")))
    }

    pub async fn chain_id(&self) -> Result<u64, EthError> {
        let id = self.number("eth_chainId", json!([])).await?;
        u64::try_from(id).map_err(|_| malformed("eth_chainId", "out of range"))
    }

    pub async fn balance(&self, account: &EthAddress) -> Result<u128, EthError> {
        self.number("eth_getBalance", json!([account.to_string(), "latest"]))
            .await
    }

    /// The number of the newest block of state `at`.
    pub async fn block_number(&self, at: BlockTag) -> Result<u64, EthError> {
        const METHOD: &str = "eth_getBlockByNumber";
        if at == BlockTag::Latest {
            let n = self.number("eth_blockNumber", json!([])).await?;
            return u64::try_from(n).map_err(|_| malformed("eth_blockNumber", "out of range"));
        }
        let none = |why: String| {
            malformed(
                METHOD,
                format!("the node has no {at} block ({why}): a chain without finality? then read latest"),
            )
        };
        let block: Value = match self.rpc.call(METHOD, json!([at.as_str(), false])).await {
            Ok(block) => block,
            // geth answers an error, not null, while it has none.
            Err(RpcError::Rpc { message, .. }) if message.contains("not found") => {
                return Err(none(message))
            }
            Err(e) => return Err(e.into()),
        };
        if block.is_null() {
            return Err(none("it answered none".into()));
        }
        block
            .get("number")
            .and_then(Value::as_str)
            .and_then(quantity)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| malformed(METHOD, "a block without its number"))
    }

    /// `at` pinned to the number of its newest block now.
    pub async fn pin(&self, at: BlockTag) -> Result<BlockRef, EthError> {
        Ok(BlockRef::Pinned {
            tag: at,
            number: self.block_number(at).await?,
        })
    }

    /// The events `address` emitted in blocks `from..=to` whose first topic
    /// is one of `topic0` (which event). A log the node marks removed (a
    /// reorganisation undid it) is left out.
    pub async fn logs(
        &self,
        address: &EthAddress,
        topic0: &[[u8; 32]],
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, EthError> {
        const METHOD: &str = "eth_getLogs";
        let filter = json!({
            "address": address.to_string(),
            "topics": [topic0.iter().map(|t| hex_data(t)).collect::<Vec<_>>()],
            "fromBlock": format!("{from:#x}"),
            "toBlock": format!("{to:#x}"),
        });
        let answer: Vec<Value> = self.rpc.call(METHOD, json!([filter])).await?;
        logs_of(&answer, address, topic0)
    }

    /// Runs `data` against the contract at `to` in state `at`, without a
    /// transaction.
    pub async fn call(
        &self,
        to: &EthAddress,
        data_in: &[u8],
        at: BlockRef,
    ) -> Result<Vec<u8>, EthError> {
        let params = json!([{ "to": to.to_string(), "data": hex_data(data_in) }, at.param()]);
        let out: String = self
            .rpc
            .call("eth_call", params)
            .await
            .map_err(|e| reverted("eth_call", e))?;
        data(&out).ok_or_else(|| malformed("eth_call", "the answer is not hex data"))
    }

    /// Sends `data` (to `to`, or creating a contract) as a transaction signed
    /// by `key`, which pays for it, and waits for its receipt.
    pub async fn transact(
        &self,
        key: &SecretKey,
        to: Option<&EthAddress>,
        data_in: &[u8],
        what: &str,
    ) -> Result<Receipt, EthError> {
        let from = EthAddress::of(&key.public_key());
        let mut estimate = json!({ "from": from.to_string(), "data": hex_data(data_in) });
        if let Some(to) = to {
            estimate["to"] = json!(to.to_string());
        }
        // The estimate runs the call: a transaction that would revert is
        // refused here, with the contract's reason, before any gas is spent —
        // against the pending state, so that one another member already sent
        // (the same checkpoint) counts.
        let gas: String = self
            .rpc
            .call("eth_estimateGas", json!([estimate, "pending"]))
            .await
            .map_err(|e| reverted(what, e))?;
        let gas = quantity(&gas).ok_or_else(|| malformed("eth_estimateGas", gas.clone()))?;
        // A margin over the estimate: storage refunds and warm slots make
        // the estimate exact only for the state it ran against.
        let gas = gas.saturating_add(gas / 5);
        let gas_price = self.number("eth_gasPrice", json!([])).await?;
        let nonce = self
            .number(
                "eth_getTransactionCount",
                json!([from.to_string(), "pending"]),
            )
            .await?;
        let chain_id = u128::from(self.chain_id().await?);
        let tx = LegacyTx {
            nonce,
            gas_price,
            gas,
            to,
            value: 0,
            data: data_in,
        };
        let raw = sign_legacy(key, &tx, chain_id);
        let hash: String = self
            .rpc
            .call("eth_sendRawTransaction", json!([hex_data(&raw)]))
            .await
            .map_err(|e| reverted(what, e))?;
        self.receipt(&hash).await
    }

    /// Moves `wei` from the node's own first account, which it holds
    /// unlocked: a `geth --dev` node's funded developer account. For tests
    /// and the main job only; a real member funds its account itself.
    pub async fn fund_from_dev_account(
        &self,
        to: &EthAddress,
        wei: u128,
    ) -> Result<Receipt, EthError> {
        let accounts: Vec<String> = self.rpc.call("eth_accounts", json!([])).await?;
        let from = accounts.first().ok_or_else(|| {
            malformed(
                "eth_accounts",
                "the node holds no account (only a dev node funds others)",
            )
        })?;
        let tx = json!([{ "from": from, "to": to.to_string(), "value": format!("{wei:#x}") }]);
        let hash: String = self.rpc.call("eth_sendTransaction", tx).await?;
        self.receipt(&hash).await
    }

    /// Waits for the receipt of transaction `hash`.
    pub async fn receipt(&self, hash: &str) -> Result<Receipt, EthError> {
        let deadline = tokio::time::Instant::now() + RECEIPT_WAIT;
        loop {
            let r: Value = self
                .rpc
                .call("eth_getTransactionReceipt", json!([hash]))
                .await?;
            if !r.is_null() {
                let field = |k: &str| r.get(k).and_then(Value::as_str).and_then(quantity);
                let gas_used = field("gasUsed").unwrap_or(0) as u64;
                if field("status") != Some(1) {
                    return Err(EthError::Failed {
                        tx: hash.into(),
                        gas_used,
                    });
                }
                return Ok(Receipt {
                    tx_hash: hash.into(),
                    block_number: field("blockNumber").unwrap_or(0) as u64,
                    gas_used,
                    effective_gas_price: field("effectiveGasPrice").unwrap_or(0),
                    contract_address: r
                        .get("contractAddress")
                        .and_then(Value::as_str)
                        .and_then(|a| a.parse().ok()),
                });
            }
            if tokio::time::Instant::now() > deadline {
                return Err(EthError::NotMined {
                    tx: hash.into(),
                    secs: RECEIPT_WAIT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `eth_getLogs`' answer to a filter on `address` and `topic0`: a log of
/// anything else is the node's error, not a thing to count.
fn logs_of(
    answer: &[Value],
    address: &EthAddress,
    topic0: &[[u8; 32]],
) -> Result<Vec<Log>, EthError> {
    let mut logs = Vec::with_capacity(answer.len());
    for log in answer {
        let Some(log) = log_of(log)? else { continue };
        if log.address != *address || !log.topics.first().is_some_and(|t| topic0.contains(t)) {
            return Err(malformed(
                "eth_getLogs",
                "a log of another contract or event than the one asked for",
            ));
        }
        logs.push(log);
    }
    Ok(logs)
}

/// One entry of `eth_getLogs`' answer; `None` for a log the node marks
/// removed (a reorganisation undid it).
fn log_of(log: &Value) -> Result<Option<Log>, EthError> {
    const METHOD: &str = "eth_getLogs";
    if log.get("removed").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let text = |k: &str| log.get(k).and_then(Value::as_str);
    let address = text("address")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| malformed(METHOD, "a log without the address of its contract"))?;
    let block_number = text("blockNumber")
        .and_then(quantity)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| malformed(METHOD, "a log without its block number"))?;
    let topics = log
        .get("topics")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(METHOD, "a log without topics"))?
        .iter()
        .map(|t| {
            t.as_str()
                .and_then(data)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| malformed(METHOD, "a topic is not 32 bytes of hex"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = text("data")
        .and_then(data)
        .ok_or_else(|| malformed(METHOD, "a log's data is not hex"))?;
    Ok(Some(Log {
        address,
        block_number,
        topics,
        data: bytes,
    }))
}

/// A refusal of the contract (the node says the execution reverted, or
/// sends the revert's data) becomes `Reverted`; any other error — funds,
/// nonce, price — stays the node's.
fn reverted(call: &str, e: RpcError) -> EthError {
    match e {
        RpcError::Rpc {
            message, data: d, ..
        } if message.contains("execution reverted") || data(&d).is_some_and(|b| b.len() >= 4) => {
            EthError::Reverted {
                call: call.into(),
                data: data(&d).unwrap_or_default(),
                reason: message,
            }
        }
        other => EthError::Rpc(other),
    }
}

/// A legacy transaction: to `None` creates a contract.
struct LegacyTx<'a> {
    nonce: u128,
    gas_price: u128,
    gas: u128,
    to: Option<&'a EthAddress>,
    value: u128,
    data: &'a [u8],
}

/// The transaction signed as EIP-155 asks (the chain id in the signed
/// bytes, so it cannot be replayed on another chain).
fn sign_legacy(key: &SecretKey, tx: &LegacyTx, chain_id: u128) -> Vec<u8> {
    let to: &[u8] = tx.to.map_or(&[], |a| &a.0);
    let fields = [
        Item::Uint(tx.nonce),
        Item::Uint(tx.gas_price),
        Item::Uint(tx.gas),
        Item::Bytes(to),
        Item::Uint(tx.value),
        Item::Bytes(tx.data),
    ];
    let with = |tail: [Item; 3]| rlp::list(&[&fields[..], &tail[..]].concat());
    // Signed over the fields and the chain id (EIP-155: r and s empty).
    let sig = key.sign_recoverable(&keccak256(&with([
        Item::Uint(chain_id),
        Item::Uint(0),
        Item::Uint(0),
    ])));
    // r and s are integers: sent without leading zeros.
    let trim = |b: &[u8]| -> Vec<u8> {
        let skip = b.iter().take_while(|x| **x == 0).count();
        b[skip..].to_vec()
    };
    let (r, s) = (trim(&sig[..32]), trim(&sig[32..64]));
    with([
        Item::Uint(chain_id * 2 + 35 + u128::from(sig[64])),
        Item::Bytes(&r),
        Item::Bytes(&s),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_read_or_refused_with_what_is_wrong() {
        let topic = format!("0x{}", "11".repeat(32));
        let at = format!("0x{}", "22".repeat(20));
        let good =
            json!({ "address": at, "blockNumber": "0x2a", "topics": [topic], "data": "0x0102" });
        let log = log_of(&good).unwrap().unwrap();
        assert_eq!(
            (log.block_number, log.topics, log.data),
            (42, vec![[0x11; 32]], vec![1, 2])
        );
        let removed = json!({ "removed": true, "blockNumber": "0x2a", "topics": [], "data": "0x" });
        assert!(
            log_of(&removed).unwrap().is_none(),
            "a removed log is left out"
        );
        let asked: EthAddress = at.parse().unwrap();
        assert_eq!(
            logs_of(&[good.clone(), removed], &asked, &[[0x11; 32]])
                .unwrap()
                .len(),
            1
        );
        let other: EthAddress = format!("0x{}", "33".repeat(20)).parse().unwrap();
        for (address, topic0) in [(&other, [0x11; 32]), (&asked, [0x44; 32])] {
            let e = logs_of(std::slice::from_ref(&good), address, &[topic0]).unwrap_err();
            assert!(e.to_string().contains("another contract or event"), "{e}");
        }

        // What a lying or broken node might send: each refused, none a panic.
        for (bad, why) in [
            (
                json!({ "blockNumber": "0x2a", "topics": [topic], "data": "0x" }),
                "address",
            ),
            (
                json!({ "address": "0x22", "blockNumber": "0x2a", "topics": [topic], "data": "0x" }),
                "address",
            ),
            (
                json!({ "address": at, "topics": [topic], "data": "0x" }),
                "block number",
            ),
            (
                json!({ "address": at, "blockNumber": "42", "topics": [topic], "data": "0x" }),
                "block number",
            ),
            (
                json!({ "address": at, "blockNumber": "0x2a", "data": "0x" }),
                "without topics",
            ),
            (
                json!({ "address": at, "blockNumber": "0x2a", "topics": ["0x11"], "data": "0x" }),
                "32 bytes",
            ),
            (
                json!({ "address": at, "blockNumber": "0x2a", "topics": [7], "data": "0x" }),
                "32 bytes",
            ),
            (
                json!({ "address": at, "blockNumber": "0x2a", "topics": [topic], "data": "zz" }),
                "not hex",
            ),
            (json!("a log"), "address"),
        ] {
            let e = log_of(&bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn a_transaction_signs_as_eip_155_shows() {
        // EIP-155's example: nonce 9, 20 gwei, 21000 gas, to 0x3535…35,
        // 1 ether, chain 1, key 0x4646…46; the signed bytes it gives.
        let key = SecretKey::from_bytes(&[0x46; 32]).unwrap();
        let to: EthAddress = "0x3535353535353535353535353535353535353535"
            .parse()
            .unwrap();
        let tx = LegacyTx {
            nonce: 9,
            gas_price: 20_000_000_000,
            gas: 21000,
            to: Some(&to),
            value: 10u128.pow(18),
            data: &[],
        };
        let raw = sign_legacy(&key, &tx, 1);
        assert_eq!(
            hex::encode(raw),
            "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
        );
    }
}
