//! The consortium's state checkpointed on Ethereum (contracts/
//! ConsortiumCheckpoints.sol): members sign the app hash after a block, once
//! their own light client has checked the header that carries it; any member
//! writes a checkpoint signed by more than two thirds of the signing power;
//! and a verifier who trusts only Ethereum proves a record against it or
//! finds a consortium that rewrote its history.

use ehr_ledger::crypto::SecretKey;
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::StoredRecordAnchor;
use serde::{Deserialize, Serialize};

use super::abi::{self, Answer, Token};
use super::client::{BlockRef, BlockTag, EthClient, EthError, Receipt};
use super::{keccak256, EthAddress};
use crate::rpc::proven::{ProvenError, View};
use crate::rpc::trust::{Anchor, TrustError};
use crate::rpc::{RpcClient, RpcError};

/// The contract's creation code, compiled from contracts/ (checked in step
/// with its source by the test command).
pub const BYTECODE_HEX: &str = include_str!("../../../contracts/out/ConsortiumCheckpoints.bin");

const SIGNERS_DOMAIN: &str = "ehr-ledger checkpoint signers v1";

/// The event each first checkpoint of a height emits, and the one a second
/// app hash for a checkpointed height emits.
const CHECKPOINTED: &str = "Checkpointed(uint64,bytes32,uint64,address)";
const HISTORY_REWRITTEN: &str = "HistoryRewritten(uint64,bytes32,bytes32,address)";

/// How many Ethereum blocks one `eth_getLogs` covers: public nodes refuse
/// wide ranges, and a window keeps each answer far under the RPC's cap.
const LOG_WINDOW: u64 = 10_000;

/// The contract's errors, by signature: a revert is told by name.
const ERRORS: &[(&str, &str)] = &[
    (
        "NoSigners()",
        "the signer set is empty or its powers do not match its signers",
    ),
    (
        "BadSignerSet(uint256)",
        "a signer is zero, has no power, or appears twice",
    ),
    (
        "BadSignatureLength(uint256)",
        "the signatures are not 65 bytes each",
    ),
    (
        "BadSignature(uint256)",
        "a signature does not recover a key (or has a high s)",
    ),
    (
        "SignersNotAscending(uint256)",
        "the signatures are not in ascending order of their signers, or one signer signed twice",
    ),
    (
        "NotASigner(address)",
        "a signature is by a key outside the contract's signer set",
    ),
    (
        "NotEnoughPower(uint64,uint64)",
        "the signers hold two thirds of the power or less",
    ),
    ("ZeroAppHash()", "the app hash is zero"),
    ("ZeroHeight()", "height 0 is no block"),
    (
        "AlreadyCheckpointed(uint64)",
        "that height is already checkpointed with this app hash (or already holds two)",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Eth(#[from] EthError),
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Proven(#[from] ProvenError),
    #[error("the contract at {0} answered something that is not the checkpoint contract's answer; is --contract right?")]
    NotTheContract(EthAddress),
    #[error("{}", no_checkpoint(contract, *at))]
    NoCheckpoint { contract: EthAddress, at: BlockTag },
    #[error("no contract at {contract} in Ethereum's {at} state: not deployed there, or deployed too recently to be {at} yet")]
    NotThereYet { contract: EthAddress, at: BlockTag },
    #[error("the contract at {contract} checkpoints another chain than {chain_id}: is --contract right?")]
    OtherChain {
        contract: EthAddress,
        chain_id: String,
    },
    #[error("the signatures are for different checkpoints: {0}")]
    Mixed(String),
    #[error("{0}")]
    Malformed(String),
    #[error("a member signs only app hashes the validators signed: give the consortium's genesis file (--genesis), not a trusted sequencer")]
    Unverified,
    #[error("the contract at {contract} holds two app hashes after block {height}: its signers signed two histories, and no checkpoint of it proves anything until the consortium explains (ehr ethereum audit)")]
    InDispute { contract: EthAddress, height: u64 },
    #[error("a signature by {signer} does not recover to its signer: the attestation is forged or corrupt")]
    Forged { signer: EthAddress },
    #[error("record {record} is not anchored in the state Ethereum's checkpoint at height {height} vouches for (proven absent): anchored later, or never")]
    NotAnchored { record: String, height: u64 },
    #[error("record {record}'s anchor holds ciphertext SHA-256 {anchored}, not the {given} given: the copy at hand is not the one anchored")]
    OtherCiphertext {
        record: String,
        anchored: String,
        given: String,
    },
}

fn no_checkpoint(contract: &EthAddress, at: BlockTag) -> String {
    match at {
        BlockTag::Latest => format!("no checkpoint is written in the contract at {contract} yet"),
        _ => format!(
            "no checkpoint in the contract at {contract} in Ethereum's {at} state: none written, or none {at} yet"
        ),
    }
}

/// What a contract's events say it wrote.
#[derive(Debug, Default)]
pub struct History {
    pub checkpoints: Vec<Checkpoint>,
    /// `Finding::TwoHistories`, one for each second app hash signed.
    pub rewrites: Vec<Finding>,
}

/// keccak-256 of the CometBFT chain id: how the contract names the chain.
pub fn chain_key(chain_id: &str) -> [u8; 32] {
    keccak256(chain_id.as_bytes())
}

pub use ehr_ledger::crypto::checkpoint::checkpoint_digest as digest;

/// Where a signer-set change applies: the Ethereum chain's id and the
/// contract's address, which its digest binds.
#[derive(Clone, Copy, Debug)]
pub struct Deployment {
    pub eth_chain_id: u64,
    pub contract: EthAddress,
}

/// What a signer signs to move the contract's signer set on from `nonce`
/// to `signers` (the contract's `signersDigest`).
pub fn signers_digest(
    at: Deployment,
    chain_id: &str,
    nonce: u64,
    signers: &[(EthAddress, u64)],
) -> [u8; 32] {
    keccak256(&abi::encode(&[
        Token::Word(keccak256(SIGNERS_DOMAIN.as_bytes())),
        Token::Word(abi::uint(at.eth_chain_id)),
        Token::Word(abi::address(&at.contract)),
        Token::Word(chain_key(chain_id)),
        Token::Word(abi::uint(nonce)),
        Token::Words(signers.iter().map(|(a, _)| abi::address(a)).collect()),
        Token::Words(signers.iter().map(|(_, p)| abi::uint(*p)).collect()),
    ]))
}

/// A member's signature on a new signer set: r‖s‖v, v = 27 or 28.
pub fn sign_signers(
    key: &SecretKey,
    at: Deployment,
    chain_id: &str,
    nonce: u64,
    signers: &[(EthAddress, u64)],
) -> [u8; 65] {
    let mut sig = key.sign_recoverable(&signers_digest(at, chain_id, nonce, signers));
    sig[64] += 27;
    sig
}

/// One member's signature on a checkpoint, as members hand it to each other.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attestation {
    pub chain_id: String,
    pub height: u64,
    /// Hex.
    pub app_hash: String,
    /// The signer's Ethereum account.
    pub signer: String,
    /// r‖s‖v, hex, v = 27 or 28 as `ecrecover` takes it.
    pub signature: String,
}

impl Attestation {
    /// Signs the checkpoint with `key`.
    pub fn sign(key: &SecretKey, chain_id: &str, height: u64, app_hash: &[u8; 32]) -> Self {
        let mut sig = key.sign_recoverable(&digest(chain_id, height, app_hash));
        sig[64] += 27;
        Attestation {
            chain_id: chain_id.into(),
            height,
            app_hash: hex::encode(app_hash),
            signer: EthAddress::of(&key.public_key()).to_string(),
            signature: hex::encode(sig),
        }
    }

    /// Signs the app hash after block `height` once `anchor`'s light client
    /// has checked the header that carries it: a member vouches only for a
    /// header more than two thirds of the validators signed.
    pub async fn sign_verified(
        anchor: &Anchor,
        key: &SecretKey,
        height: u64,
    ) -> Result<Self, CheckpointError> {
        // The genesis file's chain id, not the node's: a node cannot make a
        // member vouch for another chain's app hash.
        let chain_id = anchor
            .verified_chain_id()
            .await
            .ok_or(CheckpointError::Unverified)?;
        let app_hash = anchor.app_hash_after(height).await?;
        Ok(Self::sign(key, &chain_id, height, &app_hash))
    }

    fn app_hash(&self) -> Option<[u8; 32]> {
        hex::decode(&self.app_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
    }

    /// The signer's account and the 65 signature bytes, once the signature
    /// is checked to recover that account from the checkpoint's digest.
    pub(super) fn checked(&self) -> Result<(EthAddress, [u8; 65]), CheckpointError> {
        let signer: EthAddress = self.signer.parse().map_err(CheckpointError::Malformed)?;
        let forged = || CheckpointError::Forged { signer };
        let sig: [u8; 65] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(forged)?;
        // The contract takes only a low s (one signature per signer and
        // message): a high one is refused here rather than by a revert.
        let low =
            k256::ecdsa::Signature::from_slice(&sig[..64]).is_ok_and(|s| s.normalize_s() == s);
        if !low {
            return Err(CheckpointError::Malformed(format!(
                "{signer}'s signature has a high s, which the contract refuses: sign again with ehr ethereum sign"
            )));
        }
        let app_hash = self.app_hash().ok_or_else(forged)?;
        let recovered =
            recover(&digest(&self.chain_id, self.height, &app_hash), &sig).ok_or_else(forged)?;
        if recovered != signer {
            return Err(forged());
        }
        Ok((signer, sig))
    }
}

/// The account whose key made `sig` (r‖s‖v, v = 27 or 28, s low) over
/// `digest`.
pub fn recover(digest: &[u8; 32], sig: &[u8; 65]) -> Option<EthAddress> {
    ehr_ledger::crypto::checkpoint::recover(digest, sig)
        .ok()
        .map(|k| EthAddress::of(&k))
}

/// Attestations of one checkpoint, each checked, in ascending order of
/// their signers (as the contract takes them); a signer's second copy is
/// dropped.
pub fn gather(
    attestations: &[Attestation],
) -> Result<(String, u64, [u8; 32], Vec<u8>), CheckpointError> {
    let first = attestations
        .first()
        .ok_or_else(|| CheckpointError::Mixed("none given".into()))?;
    let app_hash = first.app_hash().ok_or_else(|| {
        CheckpointError::Malformed(format!("{}'s app hash is not 32 hex bytes", first.signer))
    })?;
    let mut signed = std::collections::BTreeMap::new();
    for a in attestations {
        if (&a.chain_id, a.height, a.app_hash()) != (&first.chain_id, first.height, Some(app_hash))
        {
            return Err(CheckpointError::Mixed(format!(
                "{} signed height {} app hash {} of {}, {} signed height {} app hash {} of {}",
                first.signer,
                first.height,
                first.app_hash,
                first.chain_id,
                a.signer,
                a.height,
                a.app_hash,
                a.chain_id
            )));
        }
        let (signer, sig) = a.checked()?;
        signed.insert(signer, sig);
    }
    let bytes = signed.values().flat_map(|s| s.iter().copied()).collect();
    Ok((first.chain_id.clone(), first.height, app_hash, bytes))
}

/// The checkpoint contract at an address on an Ethereum node.
#[derive(Clone)]
pub struct CheckpointContract {
    pub eth: EthClient,
    pub address: EthAddress,
    /// The state its reads see: `Latest` for a member that writes (it acts
    /// on the newest state), `Finalized` for a verifier who must not be
    /// shown a checkpoint a reorganisation could undo; pinned to one block
    /// where several reads must agree (`pinned`).
    pub reads: BlockRef,
}

/// A checkpoint as the contract holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub height: u64,
    pub app_hash: [u8; 32],
}

impl CheckpointContract {
    /// The contract at `address`, read in state `reads`.
    pub fn at(eth: EthClient, address: EthAddress, reads: BlockTag) -> Self {
        Self {
            eth,
            address,
            reads: BlockRef::Tag(reads),
        }
    }

    /// The same contract, every read at the block its tag names now: what
    /// is read in several calls then comes from one state, however the
    /// chain or its finality moves in between.
    pub async fn pinned(&self) -> Result<Self, CheckpointError> {
        let reads = match self.reads {
            BlockRef::Tag(tag) => self.eth.pin(tag).await?,
            pinned => pinned,
        };
        Ok(Self {
            eth: self.eth.clone(),
            address: self.address,
            reads,
        })
    }

    /// Deploys the contract for `chain_id` with its signers and their power,
    /// paid by `key`.
    pub async fn deploy(
        eth: EthClient,
        key: &SecretKey,
        chain_id: &str,
        signers: &[(EthAddress, u64)],
    ) -> Result<(CheckpointContract, Receipt), CheckpointError> {
        let mut code = hex::decode(BYTECODE_HEX.trim()).expect("contracts/out holds hex");
        code.extend_from_slice(&abi::encode(&[
            Token::Word(chain_key(chain_id)),
            Token::Words(signers.iter().map(|(a, _)| abi::address(a)).collect()),
            Token::Words(signers.iter().map(|(_, p)| abi::uint(*p)).collect()),
        ]));
        let receipt = eth
            .transact(key, None, &code, "deploying the checkpoint contract")
            .await
            .map_err(told)?;
        let address = receipt
            .contract_address
            .ok_or_else(|| EthError::Malformed {
                method: "eth_getTransactionReceipt".into(),
                reason: "a contract creation's receipt names no contract".into(),
            })?;
        Ok((
            CheckpointContract {
                eth,
                address,
                reads: BlockRef::Tag(BlockTag::Latest),
            },
            receipt,
        ))
    }

    async fn view(&self, signature: &str, args: &[Token]) -> Result<Vec<u8>, CheckpointError> {
        let out = self
            .eth
            .call(&self.address, &abi::call(signature, args), self.reads)
            .await
            .map_err(told)?;
        if out.is_empty() {
            // No code there, or a contract without this function.
            if self.reads.tag() != BlockTag::Latest {
                return Err(CheckpointError::NotThereYet {
                    contract: self.address,
                    at: self.reads.tag(),
                });
            }
            return Err(CheckpointError::NotTheContract(self.address));
        }
        Ok(out)
    }

    fn word_of(&self, out: &[u8], i: usize) -> Result<[u8; 32], CheckpointError> {
        Answer(out)
            .word(i)
            .ok_or(CheckpointError::NotTheContract(self.address))
    }

    fn u64_of(&self, out: &[u8], i: usize) -> Result<u64, CheckpointError> {
        Answer(out)
            .u64(i)
            .ok_or(CheckpointError::NotTheContract(self.address))
    }

    /// The chain the contract checkpoints (keccak-256 of its chain id).
    pub async fn chain_key(&self) -> Result<[u8; 32], CheckpointError> {
        let out = self.view("chainId()", &[]).await?;
        self.word_of(&out, 0)
    }

    /// The newest checkpoint, or `NoCheckpoint`.
    pub async fn latest(&self) -> Result<Checkpoint, CheckpointError> {
        let out = self.view("latest()", &[]).await?;
        let height = self.u64_of(&out, 0)?;
        let app_hash = self.word_of(&out, 1)?;
        if height == 0 {
            return Err(CheckpointError::NoCheckpoint {
                contract: self.address,
                at: self.reads.tag(),
            });
        }
        Ok(Checkpoint { height, app_hash })
    }

    /// The app hash checkpointed after block `height`, if any.
    pub async fn app_hash_at(&self, height: u64) -> Result<Option<[u8; 32]>, CheckpointError> {
        let out = self
            .view("appHashAt(uint64)", &[Token::Word(abi::uint(height))])
            .await?;
        let w = self.word_of(&out, 0)?;
        Ok((w != [0; 32]).then_some(w))
    }

    /// A second app hash signed for `height`, if the signers signed two.
    pub async fn conflict_at(&self, height: u64) -> Result<Option<[u8; 32]>, CheckpointError> {
        let out = self
            .view("conflictAt(uint64)", &[Token::Word(abi::uint(height))])
            .await?;
        let w = self.word_of(&out, 0)?;
        Ok((w != [0; 32]).then_some(w))
    }

    /// The lowest height at which two histories were signed, if any.
    pub async fn first_conflict(&self) -> Result<Option<u64>, CheckpointError> {
        let out = self.view("firstConflict()", &[]).await?;
        let h = self.u64_of(&out, 0)?;
        Ok((h != 0).then_some(h))
    }

    /// The Ethereum block the contract was created in.
    pub async fn deployed_at(&self) -> Result<u64, CheckpointError> {
        let out = self.view("deployedAt()", &[]).await?;
        self.u64_of(&out, 0)
    }

    /// What the contract ever wrote, from its events since its deployment:
    /// each checkpoint (lowest height first) and each second history.
    pub async fn history(&self) -> Result<History, CheckpointError> {
        let checkpointed = keccak256(CHECKPOINTED.as_bytes());
        let rewritten = keccak256(HISTORY_REWRITTEN.as_bytes());
        let mut history = History::default();
        let bad = || CheckpointError::NotTheContract(self.address);
        let newest = match self.reads {
            BlockRef::Pinned { number, .. } => number,
            BlockRef::Tag(tag) => self.eth.block_number(tag).await?,
        };
        let mut start = match self.deployed_at().await {
            Err(CheckpointError::Eth(EthError::Reverted { .. })) => {
                return Err(CheckpointError::Malformed(format!(
                    "the contract at {} records no deployment block (deployed before `deployedAt`): redeploy it, or audit given heights (--height)",
                    self.address
                )))
            }
            other => other?,
        };
        while start <= newest {
            let end = newest.min(start.saturating_add(LOG_WINDOW - 1));
            let logs = self
                .eth
                .logs(&self.address, &[checkpointed, rewritten], start, end)
                .await?;
            for log in logs {
                let height = log.topics.get(1).and_then(|t| Answer(t).u64(0));
                let first = Answer(&log.data).word(0);
                if log.topics[0] == checkpointed {
                    let (Some(height), Some(app_hash)) = (height, first) else {
                        return Err(bad());
                    };
                    history.checkpoints.push(Checkpoint { height, app_hash });
                } else {
                    let second = Answer(&log.data).word(1);
                    let (Some(height), Some(first), Some(second)) = (height, first, second) else {
                        return Err(bad());
                    };
                    history.rewrites.push(Finding::TwoHistories {
                        height,
                        first,
                        second,
                    });
                }
            }
            if end == newest {
                break;
            }
            start = end + 1;
        }
        history.checkpoints.sort_by_key(|c| c.height);
        Ok(history)
    }

    /// The signer set and each signer's power.
    pub async fn signers(&self) -> Result<Vec<(EthAddress, u64)>, CheckpointError> {
        let out = self.view("signers()", &[]).await?;
        let a = Answer(&out);
        let bad = || CheckpointError::NotTheContract(self.address);
        let accounts = a.words(0).ok_or_else(bad)?;
        let powers = a.words(1).ok_or_else(bad)?;
        if accounts.len() != powers.len() {
            return Err(bad());
        }
        accounts
            .iter()
            .zip(&powers)
            .map(|(acc, p)| {
                let acc = Answer(acc).address(0).ok_or_else(bad)?;
                let p = Answer(p).u64(0).ok_or_else(bad)?;
                Ok((acc, p))
            })
            .collect()
    }

    /// The Ethereum chain and address a signer-set change is signed for.
    pub async fn deployment(&self) -> Result<Deployment, CheckpointError> {
        Ok(Deployment {
            eth_chain_id: self.eth.chain_id().await?,
            contract: self.address,
        })
    }

    /// Refuses unless the contract checkpoints `chain_id`.
    pub async fn same_chain(&self, chain_id: &str) -> Result<(), CheckpointError> {
        if chain_key(chain_id) == self.chain_key().await? {
            Ok(())
        } else {
            Err(CheckpointError::OtherChain {
                contract: self.address,
                chain_id: chain_id.to_string(),
            })
        }
    }

    /// The number of signer-set changes so far (what the next change signs).
    pub async fn signer_set_nonce(&self) -> Result<u64, CheckpointError> {
        let out = self.view("signerSetNonce()", &[]).await?;
        self.u64_of(&out, 0)
    }

    /// Replaces the signer set with `signers`, with the current signers'
    /// signatures over it (`sign_signers` at the current nonce), paid by
    /// `key`. The signatures are put in the order the contract takes.
    pub async fn change_signers(
        &self,
        key: &SecretKey,
        chain_id: &str,
        signers: &[(EthAddress, u64)],
        signatures: &[[u8; 65]],
    ) -> Result<Receipt, CheckpointError> {
        self.same_chain(chain_id).await?;
        let digest = signers_digest(
            self.deployment().await?,
            chain_id,
            self.signer_set_nonce().await?,
            signers,
        );
        let mut by_signer = std::collections::BTreeMap::new();
        for sig in signatures {
            // One that recovers no key is left for the contract to name.
            let signer = recover(&digest, sig).unwrap_or_default();
            by_signer.insert(signer, *sig);
        }
        let data = abi::call(
            "changeSigners(address[],uint64[],bytes)",
            &[
                Token::Words(signers.iter().map(|(a, _)| abi::address(a)).collect()),
                Token::Words(signers.iter().map(|(_, p)| abi::uint(*p)).collect()),
                Token::Bytes(by_signer.values().flat_map(|s| s.iter().copied()).collect()),
            ],
        );
        Ok(self
            .eth
            .transact(key, Some(&self.address), &data, "changing the signer set")
            .await
            .map_err(told)?)
    }

    /// Writes the checkpoint the attestations sign, paid by `key`.
    pub async fn submit(
        &self,
        key: &SecretKey,
        attestations: &[Attestation],
    ) -> Result<Receipt, CheckpointError> {
        let (chain_id, height, app_hash, signatures) = gather(attestations)?;
        self.same_chain(&chain_id).await?;
        let data = abi::call(
            "submit(uint64,bytes32,bytes)",
            &[
                Token::Word(abi::uint(height)),
                Token::Word(app_hash),
                Token::Bytes(signatures),
            ],
        );
        Ok(self
            .eth
            .transact(
                key,
                Some(&self.address),
                &data,
                &format!("checkpoint {height}"),
            )
            .await
            .map_err(told)?)
    }
}

/// A revert told by the contract's error name and a sentence.
fn told(e: EthError) -> EthError {
    match e {
        EthError::Reverted { call, reason, data } if data.len() >= 4 => {
            let reason = ERRORS
                .iter()
                .find(|(sig, _)| abi::selector(sig) == data[..4])
                .map_or(reason, |(sig, sentence)| {
                    format!("{} — {sentence}", sig.split('(').next().unwrap_or(sig))
                });
            EthError::Reverted { call, reason, data }
        }
        other => other,
    }
}

/// A record's anchor, proven against the app hash of Ethereum's newest
/// checkpoint and nothing else: the node that answers is not trusted, and
/// neither are the validators' keys.
pub struct VerifiedRecord {
    pub checkpoint: Checkpoint,
    pub anchor: StoredRecordAnchor,
}

pub async fn verify_record(
    contract: &CheckpointContract,
    node: &RpcClient,
    record_id: &str,
    ciphertext_sha256: Option<&[u8]>,
) -> Result<VerifiedRecord, CheckpointError> {
    // Both reads from one state: a conflict cannot slip in between.
    let contract = &contract.pinned().await?;
    if let Some(height) = contract.first_conflict().await? {
        return Err(CheckpointError::InDispute {
            contract: contract.address,
            height,
        });
    }
    let checkpoint = contract.latest().await?;
    let mut view = View::trusting(node, checkpoint.height, checkpoint.app_hash);
    let anchor: Option<StoredRecordAnchor> = view.get(&keys::record(record_id)).await?;
    let anchor = anchor.ok_or_else(|| CheckpointError::NotAnchored {
        record: record_id.into(),
        height: checkpoint.height,
    })?;
    let anchored = anchor
        .record
        .as_ref()
        .map(|r| r.ciphertext_sha256.clone())
        .unwrap_or_default();
    if let Some(given) = ciphertext_sha256 {
        if given != anchored.as_slice() {
            return Err(CheckpointError::OtherCiphertext {
                record: record_id.into(),
                anchored: hex::encode(&anchored),
                given: hex::encode(given),
            });
        }
    }
    Ok(VerifiedRecord { checkpoint, anchor })
}

/// What an audit of the contract against a node found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The signers signed a second app hash for a checkpointed height.
    TwoHistories {
        height: u64,
        first: [u8; 32],
        second: [u8; 32],
    },
    /// The node's header after a checkpointed height carries another app
    /// hash: it serves a history other than the one checkpointed.
    Contradicted {
        height: u64,
        checkpointed: [u8; 32],
        served: [u8; 32],
    },
    /// A height that could not be checked: the node did not answer for
    /// it, or the contract holds no checkpoint of it.
    Unchecked { height: u64, reason: String },
}

/// What `audit` compared and found.
#[derive(Debug)]
pub struct Audit {
    /// The checkpoints compared with a header the node served.
    pub compared: usize,
    pub findings: Vec<Finding>,
}

impl Audit {
    /// Whether any finding shows a history other than the checkpointed one.
    pub fn rewritten(&self) -> bool {
        self.findings.iter().any(Finding::is_rewrite)
    }
}

impl Finding {
    /// Whether the finding shows a history other than the checkpointed one.
    pub fn is_rewrite(&self) -> bool {
        !matches!(self, Finding::Unchecked { .. })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::TwoHistories { height, first, second } => write!(
                f,
                "history rewritten: the contract holds two app hashes after block {height}, {} and then {}, each signed by more than two thirds of its signers of the day",
                hex::encode(first),
                hex::encode(second)
            ),
            Finding::Contradicted { height, checkpointed, served } => write!(
                f,
                "another history: the node's header of the block after {height} carries app hash {}, Ethereum's checkpoint says {} (the node lies, or the consortium rewrote its history: ask another member's node)",
                hex::encode(served),
                hex::encode(checkpointed)
            ),
            Finding::Unchecked { height, reason } => {
                write!(f, "checkpoint of block {height} not checked: {reason}")
            }
        }
    }
}

/// Checks the contract for two histories and compares checkpoints with the
/// headers the node serves: those of `heights`, or — when `heights` is
/// empty — every checkpoint the contract wrote, from its events.
pub async fn audit(
    contract: &CheckpointContract,
    node: &RpcClient,
    heights: &[u64],
) -> Result<Audit, CheckpointError> {
    // One state for every read below: its events end at the block its
    // views are read at, so "the events hold what the state holds" is exact.
    let contract = &contract.pinned().await?;
    let chain_id = node.chain_id().await?;
    contract.same_chain(&chain_id).await?;
    let first_conflict = match contract.first_conflict().await? {
        Some(height) => Some(two_histories(contract, height).await?),
        None => None,
    };
    let (checkpoints, mut findings) = if heights.is_empty() {
        let newest = contract.latest().await?;
        let History {
            checkpoints,
            rewrites,
        } = contract.history().await?;
        // The events and the state come from one Ethereum node: events
        // that leave out what the state holds are not the whole list.
        let holds_conflict = first_conflict.as_ref().is_none_or(|f| rewrites.contains(f));
        if !checkpoints.contains(&newest) || !holds_conflict {
            return Err(CheckpointError::Malformed(format!(
                "the Ethereum node's events of the contract at {} leave out what its state holds (the newest checkpoint, after consortium block {}, or the first second history): ask another Ethereum node",
                contract.address, newest.height
            )));
        }
        (checkpoints, rewrites)
    } else {
        let mut listed = Vec::new();
        let mut findings = Vec::new();
        for &height in heights {
            let Some(app_hash) = contract.app_hash_at(height).await? else {
                findings.push(Finding::Unchecked {
                    height,
                    reason: match contract.reads.tag() {
                        BlockTag::Latest => "the contract holds no checkpoint of it".into(),
                        at => format!("the contract holds no checkpoint of it in Ethereum's {at} state (none written, or none {at} yet)"),
                    },
                });
                continue;
            };
            if let Some(second) = contract.conflict_at(height).await? {
                findings.push(Finding::TwoHistories {
                    height,
                    first: app_hash,
                    second,
                });
            }
            listed.push(Checkpoint { height, app_hash });
        }
        (listed, findings)
    };
    if let Some(f) = first_conflict {
        if !findings.contains(&f) {
            findings.insert(0, f);
        }
    }
    let mut compared = 0;
    for checkpoint in &checkpoints {
        match compare(node, checkpoint).await {
            Ok(()) => compared += 1,
            Err(f @ Finding::Contradicted { .. }) => {
                compared += 1;
                findings.push(f);
            }
            Err(f) => findings.push(f),
        }
    }
    Ok(Audit { compared, findings })
}

/// The two app hashes the contract holds after block `height`.
async fn two_histories(
    contract: &CheckpointContract,
    height: u64,
) -> Result<Finding, CheckpointError> {
    Ok(Finding::TwoHistories {
        height,
        first: contract.app_hash_at(height).await?.unwrap_or_default(),
        second: contract.conflict_at(height).await?.unwrap_or_default(),
    })
}

/// The node's header after a checkpointed height against the checkpoint:
/// `Contradicted`, or `Unchecked` when the node cannot show it.
async fn compare(node: &RpcClient, checkpoint: &Checkpoint) -> Result<(), Finding> {
    let Checkpoint {
        height,
        app_hash: checkpointed,
    } = *checkpoint;
    let unchecked = |reason: String| Finding::Unchecked { height, reason };
    let next = height
        .checked_add(1)
        .ok_or_else(|| unchecked("no block follows it".into()))?;
    let block = node
        .block(Some(next))
        .await
        .map_err(|e| unchecked(e.to_string()))?;
    let served = hex::decode(&block.block.header.app_hash)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            unchecked(format!(
                "the node served block {next} without a 32-byte app hash"
            ))
        })?;
    if served != checkpointed {
        return Err(Finding::Contradicted {
            height,
            checkpointed,
            served,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attestations_are_checked_and_ordered_by_signer() {
        let keys: Vec<SecretKey> = (0..3)
            .map(|i| SecretKey::from_seed(&format!("member {i}")))
            .collect();
        let app_hash = [7u8; 32];
        let mut signed: Vec<Attestation> = keys
            .iter()
            .map(|k| Attestation::sign(k, "ehr-test", 10, &app_hash))
            .collect();
        signed.push(signed[0].clone());
        let (_, height, hash, bytes) = gather(&signed).unwrap();
        assert_eq!((height, hash), (10, app_hash));
        assert_eq!(bytes.len(), 3 * 65, "a signer's second copy is dropped");
        let signers: Vec<EthAddress> = bytes
            .chunks(65)
            .map(|s| recover(&digest("ehr-test", 10, &app_hash), s.try_into().unwrap()).unwrap())
            .collect();
        assert!(signers.windows(2).all(|w| w[0] < w[1]), "ascending");

        let mut other = signed.clone();
        other[1] = Attestation::sign(&keys[1], "ehr-test", 11, &app_hash);
        assert!(matches!(gather(&other), Err(CheckpointError::Mixed(_))));

        // The same signature with the high s (and the other parity): the
        // contract would refuse it, so it is refused here.
        let mut high = signed.clone();
        let sig = hex::decode(&high[0].signature).unwrap();
        let s = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
        let negated =
            k256::ecdsa::Signature::from_scalars(s.r().to_bytes(), (-*s.s()).to_bytes()).unwrap();
        let mut bytes = negated.to_bytes().to_vec();
        bytes.push(if sig[64] == 27 { 28 } else { 27 });
        high[0].signature = hex::encode(bytes);
        assert!(
            matches!(gather(&high), Err(CheckpointError::Malformed(why)) if why.contains("high s"))
        );

        let mut forged = signed.clone();
        forged[2].signer = signed[0].signer.clone();
        assert!(matches!(
            gather(&forged),
            Err(CheckpointError::Forged { .. })
        ));
    }
}
