//! A member's checkpointer (`ehr ethereum watch`): every N blocks it signs
//! the app hash after the newest multiple of N that its own light client
//! checked, posts the signature on the consortium's chain
//! (`attest_checkpoint`, where the members' signatures meet), and writes the
//! checkpoint to Ethereum once the members who signed that same app hash hold
//! more than two thirds of the contract's signing power. The member whose
//! turn it is writes first (turns go round the signers by height); each of
//! the others writes `grace` after the one before it, if the checkpoint is
//! still missing: one transaction a checkpoint when all is well, and no
//! member's absence stops them. Members wait in time, not in blocks, since
//! Ethereum sets how long a write takes to be seen; a target the round does
//! not reach before the next multiple of N comes is left for that one.
//!
//! The list of attestations comes unproven from the member's own node: a
//! node that hides some can delay a checkpoint (the member sees fewer
//! signatures than there are), never forge one — the member checks each
//! signature itself and counts only those of the app hash it checked, and
//! the contract checks them again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ehr_ledger::crypto::{PublicKey, SecretKey};
use ehr_ledger::proto::{action::Kind, AttestCheckpoint, CheckpointAttestationList};

use super::checkpoints::{Attestation, CheckpointContract, CheckpointError};
use super::{EthAddress, EthError};
use crate::rpc::trust::Anchor;
use crate::rpc::RpcError;

/// How long a posted attestation is given to be committed before it is
/// posted again (a node that dropped it from its mempool).
const POSTED_PATIENCE: Duration = Duration::from_secs(30);

pub struct Checkpointer {
    pub anchor: Anchor,
    pub key: SecretKey,
    pub contract: CheckpointContract,
    /// Checkpoint the heights that are multiples of this.
    pub every: u64,
    /// How long each member after the one whose turn it is waits before
    /// it writes a checkpoint still missing (from when it saw enough
    /// signatures).
    pub grace: Duration,
    /// The target this member saw enough signatures for, and when.
    ready: Option<(u64, Instant)>,
    /// This member's own attestation of the newest target: signed once,
    /// not again at every look while the others sign.
    own: Option<Attestation>,
    /// The newest attestation posted: its height, nonce and when.
    posted: Option<(u64, u64, Instant)>,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Did {
    /// Nothing to do: no multiple of N has an app hash yet, or its
    /// checkpoint is written and this member attested it.
    Nothing,
    /// Posted this member's attestation of the height.
    Attested { height: u64 },
    /// The attestation is posted and not yet committed.
    AwaitingAttestation { height: u64 },
    /// The members who signed this member's app hash hold `signed` of the
    /// `total` power: not more than two thirds yet.
    Gathering {
        height: u64,
        signed: u64,
        total: u64,
    },
    /// Enough signed; another member's turn to write. This one writes
    /// `after_secs` after it saw enough signatures, if it is still missing.
    NotMyTurn { height: u64, after_secs: u64 },
    /// Wrote the checkpoint.
    Written {
        height: u64,
        block: u64,
        gas_used: u64,
    },
    /// Another member wrote it first (between the look and the write).
    WrittenByAnother { height: u64 },
    /// Members signed another app hash for the height than the one this
    /// member's light client checked: evidence, reported, never counted.
    Contradicted {
        height: u64,
        org_id: String,
        app_hash: String,
    },
}

impl std::fmt::Display for Did {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Did::Nothing => write!(f, "nothing to do"),
            Did::Attested { height } => write!(f, "attested the app hash after block {height}"),
            Did::AwaitingAttestation { height } => {
                write!(f, "the attestation of height {height} is not committed yet")
            }
            Did::Gathering { height, signed, total } => write!(
                f,
                "height {height}: members holding {signed} of {total} signing power signed this app hash; more than two thirds are needed"
            ),
            Did::NotMyTurn { height, after_secs } => write!(
                f,
                "height {height} is signed by more than two thirds; another member writes it (this one {after_secs} s after it saw so, if it is still missing)"
            ),
            Did::Written { height, block, gas_used } => write!(
                f,
                "wrote the checkpoint of height {height} in Ethereum block {block} ({gas_used} gas)"
            ),
            Did::WrittenByAnother { height } => {
                write!(f, "the checkpoint of height {height} was written by another member")
            }
            Did::Contradicted { height, org_id, app_hash } => write!(
                f,
                "{org_id} signed app hash {app_hash} after block {height}, which is not the one the validators signed"
            ),
        }
    }
}

impl Checkpointer {
    /// A checkpointer for the contract, which must checkpoint the chain the
    /// anchor's light client follows.
    pub async fn new(
        anchor: Anchor,
        key: SecretKey,
        contract: CheckpointContract,
        every: u64,
        grace: Duration,
    ) -> Result<Self, CheckpointError> {
        let chain_id = anchor
            .verified_chain_id()
            .await
            .ok_or(CheckpointError::Unverified)?;
        contract.same_chain(&chain_id).await?;
        if every == 0 {
            return Err(CheckpointError::Malformed(
                "checkpoints every 0 blocks: give an interval of 1 or more".into(),
            ));
        }
        Ok(Self {
            anchor,
            key,
            contract,
            every,
            grace,
            ready: None,
            own: None,
            posted: None,
        })
    }

    /// One look at the chain and the contract, and what it called for.
    pub async fn step(&mut self) -> Result<Vec<Did>, CheckpointError> {
        let rpc = self.anchor.rpc().clone();
        let latest = rpc.latest_height().await?;
        // The app hash after block h is in header h + 1.
        let target = latest.saturating_sub(1) / self.every * self.every;
        if target == 0 {
            return Ok(vec![Did::Nothing]);
        }
        let listed = rpc
            .query_all::<CheckpointAttestationList>("/attestations")
            .await?;
        let me = self.key.public_key().to_bytes();
        let mine = listed
            .iter()
            .filter(|a| a.public_key == me)
            .map(|a| a.height)
            .max()
            .unwrap_or(0);
        let written = match self.contract.latest().await {
            Ok(c) => c.height,
            Err(CheckpointError::NoCheckpoint { .. }) => 0,
            Err(e) => return Err(e),
        };
        if mine < target {
            return self.attest(target, written).await;
        }
        if written >= target {
            return Ok(vec![Did::Nothing]);
        }
        let signed = self.own(target).await?;
        let mut did = Vec::new();
        let mut agreeing = Vec::new();
        for a in listed.iter().filter(|a| a.height == target) {
            if hex::encode(&a.app_hash) != signed.app_hash {
                did.push(Did::Contradicted {
                    height: target,
                    org_id: a.org_id.clone(),
                    app_hash: hex::encode(&a.app_hash),
                });
                continue;
            }
            let Some(key) = PublicKey::from_bytes(&a.public_key) else {
                continue;
            };
            let listed = Attestation {
                signer: EthAddress::of(&key).to_string(),
                signature: hex::encode(&a.signature),
                ..signed.clone()
            };
            // Checked here, not taken on the node's word: one forged entry
            // would otherwise make every write of this member fail.
            if listed.checked().is_ok() {
                agreeing.push(listed);
            }
        }
        let signers: BTreeMap<EthAddress, u64> =
            self.contract.signers().await?.into_iter().collect();
        // Only the contract's signers: another's signature would revert.
        agreeing.retain(|a| a.signer.parse().is_ok_and(|s| signers.contains_key(&s)));
        let total = signers.values().fold(0u128, |t, p| t + u128::from(*p));
        let signed_by: std::collections::BTreeSet<EthAddress> = agreeing
            .iter()
            .filter_map(|a| a.signer.parse().ok())
            .collect();
        let power = signed_by
            .iter()
            .filter_map(|s| signers.get(s))
            .fold(0u128, |t, p| t + u128::from(*p));
        if 3 * power <= 2 * total {
            self.ready = None;
            did.push(Did::Gathering {
                height: target,
                signed: u64::try_from(power).unwrap_or(u64::MAX),
                total: u64::try_from(total).unwrap_or(u64::MAX),
            });
            return Ok(did);
        }
        // Turns are counted from when this member saw enough signatures, in
        // time: Ethereum, not the consortium, sets how long a write takes.
        let since = match self.ready {
            Some((height, at)) if height == target => at,
            _ => self.ready.insert((target, Instant::now())).1,
        };
        let wait = self.wait_for_turn(&signers, target);
        let waited = since.elapsed();
        if waited < wait {
            did.push(Did::NotMyTurn {
                height: target,
                after_secs: wait.as_secs_f64().ceil() as u64,
            });
            return Ok(did);
        }
        did.push(match self.contract.submit(&self.key, &agreeing).await {
            Ok(r) => Did::Written {
                height: target,
                block: r.block_number,
                gas_used: r.gas_used,
            },
            // Another member's transaction came first: refused up front (the
            // estimate runs against pending transactions), or mined first
            // and this one reverted.
            Err(CheckpointError::Eth(EthError::Reverted { reason, .. }))
                if reason.starts_with("AlreadyCheckpointed") =>
            {
                Did::WrittenByAnother { height: target }
            }
            Err(e) => match self.contract.app_hash_at(target).await? {
                Some(held) if hex::encode(held) == signed.app_hash => {
                    Did::WrittenByAnother { height: target }
                }
                _ => return Err(e),
            },
        });
        Ok(did)
    }

    /// Posts this member's attestation of `target`, once (again after
    /// `POSTED_PATIENCE` if it never came).
    async fn attest(&mut self, target: u64, written: u64) -> Result<Vec<Did>, CheckpointError> {
        let recent = self
            .posted
            .filter(|(_, _, at)| at.elapsed() < POSTED_PATIENCE);
        if let Some((height, _, _)) = recent.filter(|(h, _, _)| *h == target) {
            return Ok(vec![Did::AwaitingAttestation { height }]);
        }
        // Already written without this member: nothing to add to it.
        if written >= target {
            return Ok(vec![Did::Nothing]);
        }
        let a = self.own(target).await?;
        let (app_hash, signature) = (hex::decode(&a.app_hash), hex::decode(&a.signature));
        let (Ok(app_hash), Ok(signature)) = (app_hash, signature) else {
            return Err(CheckpointError::Malformed(
                "an attestation this member signed is not hex".into(),
            ));
        };
        let rpc = self.anchor.rpc();
        // An earlier attestation still in the mempool holds the committed
        // next nonce: this one follows it.
        let committed = rpc.next_nonce(&self.key.address()).await?;
        let nonce = match recent {
            Some((_, posted, _)) if posted >= committed => posted + 1,
            _ => committed,
        };
        let tx = ehr_ledger::tx::sign_tx(
            &self.key,
            &a.chain_id,
            nonce,
            Kind::AttestCheckpoint(AttestCheckpoint {
                height: target,
                app_hash,
                signature,
            }),
        );
        let r = rpc.broadcast_tx_sync(&tx).await?;
        if r.code != 0 {
            return Err(RpcError::Refused {
                what: "the checkpoint attestation",
                log: r.log,
            }
            .into());
        }
        self.posted = Some((target, nonce, Instant::now()));
        Ok(vec![Did::Attested { height: target }])
    }

    /// This member's attestation of `target`, checked by its light client.
    async fn own(&mut self, target: u64) -> Result<Attestation, CheckpointError> {
        match &self.own {
            Some(a) if a.height == target => Ok(a.clone()),
            _ => {
                let a = Attestation::sign_verified(&self.anchor, &self.key, target).await?;
                Ok(self.own.insert(a).clone())
            }
        }
    }

    /// How long this member waits before writing: nothing on its turn,
    /// `grace` for the next member in the round, and so on; a key that is
    /// no signer comes after all of them.
    fn wait_for_turn(&self, signers: &BTreeMap<EthAddress, u64>, target: u64) -> Duration {
        let n = signers.len() as u64;
        if n == 0 {
            return Duration::ZERO;
        }
        let me = EthAddress::of(&self.key.public_key());
        let rank = match signers.keys().position(|s| *s == me) {
            Some(p) => (p as u64 + n - (target / self.every) % n) % n,
            None => n,
        };
        self.grace
            .saturating_mul(u32::try_from(rank).unwrap_or(u32::MAX))
    }
}
