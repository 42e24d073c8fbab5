//! `ehr ethereum`: the consortium's state checkpointed on Ethereum. A member
//! signs the app hash after a block its light client checked; any member
//! writes a checkpoint more than two thirds of the signers signed; anyone
//! who trusts only Ethereum proves a record against the newest checkpoint or
//! audits a node's history against the checkpoints.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use ehr_client::ethereum::checkpoints::{self, Attestation, CheckpointContract};
use ehr_client::ethereum::watch::Checkpointer;
use ehr_client::ethereum::{BlockTag, EthAddress, EthClient, Receipt};
use ehr_client::rpc::trust::Anchor;
use ehr_ledger::crypto::PublicKey;

use crate::{Ctx, Result};

#[derive(Args)]
pub struct EthereumArgs {
    /// The Ethereum node's JSON-RPC.
    #[arg(long, env = "EHR_ETHEREUM", default_value = "http://127.0.0.1:8545")]
    pub eth: String,
    #[command(subcommand)]
    pub command: EthereumCommand,
}

/// The Ethereum state a verifier reads.
#[derive(Args)]
pub struct Reading {
    /// finalized (no reorganisation undoes it: on mainnet about 13 minutes
    /// behind, on `geth --dev` up to 32 blocks), safe, or latest (what a
    /// reorganisation may still undo).
    #[arg(long, default_value_t = BlockTag::Finalized)]
    at: BlockTag,
}

#[derive(Subcommand)]
pub enum EthereumCommand {
    /// A key's Ethereum account and its balance (the account that pays for
    /// the checkpoints a member writes).
    Account {
        #[arg(long)]
        key: String,
    },
    /// Deploy the checkpoint contract for this node's chain, with its
    /// signers (each a key name or a public key, `=POWER`, 1 unless given).
    Deploy {
        /// The key that pays.
        #[arg(long)]
        key: String,
        #[arg(long = "signer", required = true)]
        signers: Vec<String>,
    },
    /// Sign the app hash after block HEIGHT (the newest block when omitted),
    /// once the light client checked the header that carries it; prints the
    /// attestation (JSON) for the member that writes the checkpoint.
    Sign {
        #[arg(long)]
        key: String,
        #[arg(long)]
        height: Option<u64>,
    },
    /// Checkpoint the chain every N blocks, as this member: sign each
    /// multiple of N the light client checked, post the signature on the
    /// consortium's chain, and write the checkpoint to Ethereum once more
    /// than two thirds of the signing power signed the same app hash (on
    /// this member's turn, or GRACE seconds a member later if it is still
    /// missing). Runs until stopped; says what it does, a line a step.
    Watch {
        #[arg(long)]
        contract: EthAddress,
        /// The member admin's key: it signs, and pays for what it writes.
        #[arg(long)]
        key: String,
        /// Checkpoint heights that are multiples of this (the same for every member).
        #[arg(long, default_value_t = 100)]
        every: u64,
        /// Seconds each member waits after the one before it in the round
        /// (about two Ethereum blocks; longer where its transactions wait).
        #[arg(long, default_value_t = 30.0)]
        grace: f64,
        /// Seconds between looks at the chain.
        #[arg(long, default_value_t = 1.0)]
        poll: f64,
    },
    /// Write the checkpoint the attestation files sign.
    Submit {
        #[arg(long)]
        contract: EthAddress,
        /// The key that pays.
        #[arg(long)]
        key: String,
        #[arg(required = true)]
        attestations: Vec<PathBuf>,
    },
    /// Sign a new signer set for the contract (each a key name or public
    /// key, `=POWER`), at the contract's current nonce; prints the
    /// signature (JSON) for the member that makes the change.
    SignSigners {
        #[arg(long)]
        contract: EthAddress,
        #[arg(long)]
        key: String,
        #[arg(long = "signer", required = true)]
        signers: Vec<String>,
    },
    /// Replace the contract's signer set, with the signatures (files of
    /// `sign-signers`) of more than two thirds of the current one.
    ChangeSigners {
        #[arg(long)]
        contract: EthAddress,
        /// The key that pays.
        #[arg(long)]
        key: String,
        #[arg(long = "signer", required = true)]
        signers: Vec<String>,
        #[arg(required = true)]
        signatures: Vec<PathBuf>,
    },
    /// The newest checkpoint and the signer set.
    Latest {
        #[arg(long)]
        contract: EthAddress,
        #[command(flatten)]
        reading: Reading,
    },
    /// Prove a record's anchor against Ethereum's newest checkpoint only
    /// (this node's answer is proven, the validators' keys not relied on).
    VerifyRecord {
        #[arg(long)]
        contract: EthAddress,
        record_id: String,
        /// The SHA-256 of the ciphertext at hand, which the anchor must hold.
        #[arg(long)]
        sha256: Option<String>,
        #[command(flatten)]
        reading: Reading,
    },
    /// Look for a rewritten history: two app hashes signed for one height,
    /// or this node's headers against the checkpoints (every one the
    /// contract wrote, unless --height). Exit status 1 when one is found.
    Audit {
        #[arg(long)]
        contract: EthAddress,
        #[arg(long = "height")]
        heights: Vec<u64>,
        #[command(flatten)]
        reading: Reading,
    },
}

fn paid(what: &str, r: &Receipt) -> String {
    format!(
        "{what}: transaction {} in block {}, {} gas at {} wei",
        r.tx_hash, r.block_number, r.gas_used, r.effective_gas_price
    )
}

/// True when all is well (an audit finds nothing).
pub async fn ethereum(ctx: &Ctx, a: &EthereumArgs) -> Result<bool> {
    let eth = EthClient::new(&a.eth);
    // What a member writes, it decides on the newest state; what a
    // verifier reads, it reads where `--at` says.
    let contract =
        |address: &EthAddress| CheckpointContract::at(eth.clone(), *address, BlockTag::Latest);
    let read =
        |address: &EthAddress, r: &Reading| CheckpointContract::at(eth.clone(), *address, r.at);
    match &a.command {
        EthereumCommand::Account { key } => {
            let key = ctx.keys.load(key)?;
            let account = EthAddress::of(&key.public_key());
            let balance = eth.balance(&account).await?;
            println!("account {account}, balance {balance} wei");
        }
        EthereumCommand::Deploy { key, signers } => {
            let key = ctx.keys.load(key)?;
            let signers = signer_set(ctx, signers)?;
            let chain_id = ctx.rpc.chain_id().await?;
            let (c, receipt) = CheckpointContract::deploy(eth, &key, &chain_id, &signers).await?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"contract": c.address.to_string(), "chain_id": chain_id, "gas_used": receipt.gas_used})
                );
            } else {
                println!("contract {} checkpoints chain {chain_id}", c.address);
                println!("{}", paid("deployed", &receipt));
            }
        }
        EthereumCommand::Sign { key, height } => {
            let key = ctx.keys.load(key)?;
            let anchor = Anchor::connect(ctx.rpc.clone(), &ctx.trust_root()?).await?;
            let height = match height {
                Some(h) => *h,
                // The app hash after the newest block is in the next header.
                None => ctx.rpc.latest_height().await?.saturating_sub(1).max(1),
            };
            let a = Attestation::sign_verified(&anchor, &key, height).await?;
            println!("{}", serde_json::to_string(&a)?);
        }
        EthereumCommand::Watch {
            contract: address,
            key,
            every,
            grace,
            poll,
        } => {
            let key = ctx.keys.load(key)?;
            let anchor = Anchor::connect(ctx.rpc.clone(), &ctx.trust_root()?).await?;
            let seconds = |what: &str, s: f64| {
                std::time::Duration::try_from_secs_f64(s)
                    .map_err(|_| anyhow!("--{what} must be a number of seconds, 0 or more"))
            };
            let poll = seconds("poll", *poll)?.max(std::time::Duration::from_millis(100));
            let grace = seconds("grace", *grace)?;
            let mut watch =
                Checkpointer::new(anchor, key, contract(address), *every, grace).await?;
            println!(
                "checkpointing every {every} blocks into contract {address} as {}",
                EthAddress::of(&watch.key.public_key())
            );
            // One listener for the whole run: a signal that comes during a
            // step (a write waits for its receipt) stops the watcher too.
            let stop = ehr_client::service::shutdown_signal();
            tokio::pin!(stop);
            let mut said = Vec::new();
            loop {
                // A failed look is said and tried again: a node or Ethereum
                // down for a while stops no checkpoint for good.
                let now = tokio::select! {
                    _ = &mut stop => break,
                    done = watch.step() => match done {
                        Ok(did) => did.iter().map(ToString::to_string).collect(),
                        Err(e) => vec![format!("not this time: {e}")],
                    },
                };
                // Each line once while it stays true.
                for line in now.iter().filter(|l| !said.contains(*l)) {
                    println!("{line}");
                }
                said = now;
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        }
        EthereumCommand::Submit {
            contract: address,
            key,
            attestations,
        } => {
            let key = ctx.keys.load(key)?;
            let list = attestations
                .iter()
                .map(|p| {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    serde_json::from_str::<Attestation>(&text).with_context(|| {
                        format!("{} is not an attestation (ehr ethereum sign)", p.display())
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let receipt = contract(address).submit(&key, &list).await?;
            println!(
                "{}",
                paid(
                    &format!("checkpoint of height {} written", list[0].height),
                    &receipt
                )
            );
        }
        EthereumCommand::SignSigners {
            contract: address,
            key,
            signers,
        } => {
            let key = ctx.keys.load(key)?;
            let signers = signer_set(ctx, signers)?;
            let chain_id = ctx.rpc.chain_id().await?;
            let c = contract(address);
            c.same_chain(&chain_id).await?;
            let nonce = c.signer_set_nonce().await?;
            let sig =
                checkpoints::sign_signers(&key, c.deployment().await?, &chain_id, nonce, &signers);
            println!(
                "{}",
                serde_json::json!({"signer": EthAddress::of(&key.public_key()).to_string(), "nonce": nonce, "signature": hex::encode(sig)})
            );
        }
        EthereumCommand::ChangeSigners {
            contract: address,
            key,
            signers,
            signatures,
        } => {
            let key = ctx.keys.load(key)?;
            let signers = signer_set(ctx, signers)?;
            let chain_id = ctx.rpc.chain_id().await?;
            let sigs = signatures
                .iter()
                .map(|p| {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
                        format!("{} is not JSON (ehr ethereum sign-signers)", p.display())
                    })?;
                    v.get("signature")
                        .and_then(|s| s.as_str())
                        .and_then(|s| hex::decode(s).ok())
                        .and_then(|b| <[u8; 65]>::try_from(b).ok())
                        .ok_or_else(|| anyhow!("{} holds no 65-byte signature", p.display()))
                })
                .collect::<Result<Vec<_>>>()?;
            let receipt = contract(address)
                .change_signers(&key, &chain_id, &signers, &sigs)
                .await?;
            println!("{}", paid("signer set changed", &receipt));
        }
        EthereumCommand::Latest {
            contract: address,
            reading,
        } => {
            let c = read(address, reading).pinned().await?;
            let latest = c.latest().await?;
            let signers = c.signers().await?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"height": latest.height, "app_hash": hex::encode(latest.app_hash),
                        "signers": signers.iter().map(|(a, p)| serde_json::json!({"account": a.to_string(), "power": p})).collect::<Vec<_>>()})
                );
            } else {
                println!(
                    "checkpoint: app hash {} after block {}",
                    hex::encode(latest.app_hash),
                    latest.height
                );
                for (account, power) in signers {
                    println!("signer {account} power {power}");
                }
            }
        }
        EthereumCommand::VerifyRecord {
            contract: address,
            record_id,
            sha256,
            reading,
        } => {
            let given = sha256
                .as_deref()
                .map(|h| hex::decode(h).map_err(|_| anyhow!("--sha256 {h} is not hex")))
                .transpose()?;
            let v = checkpoints::verify_record(
                &read(address, reading),
                &ctx.rpc,
                record_id,
                given.as_deref(),
            )
            .await?;
            let record = v.anchor.record.unwrap_or_default();
            println!(
                "record {record_id}: ciphertext SHA-256 {}, anchored in block {}, proven against the app hash Ethereum's checkpoint holds after block {} in its {} state (contract {address}; trusted: the Ethereum node at {} and the contract's signer set, `ehr ethereum latest`)",
                hex::encode(&record.ciphertext_sha256),
                v.anchor.height,
                v.checkpoint.height,
                reading.at,
                a.eth
            );
        }
        EthereumCommand::Audit {
            contract: address,
            heights,
            reading,
        } => {
            let audit = checkpoints::audit(&read(address, reading), &ctx.rpc, heights).await?;
            if !audit.rewritten() {
                println!(
                    "no rewritten history: one app hash signed for each height, and {} serves the checkpointed ones ({} checkpoint(s) compared)",
                    ctx.rpc.url(),
                    audit.compared
                );
            }
            for f in &audit.findings {
                println!("{f}");
            }
            return Ok(!audit.rewritten());
        }
    }
    Ok(true)
}

fn signer_set(ctx: &Ctx, specs: &[String]) -> Result<Vec<(EthAddress, u64)>> {
    specs.iter().map(|s| signer(ctx, s)).collect()
}

/// `NAME_OR_PUBLIC_KEY[=POWER]` as a signer's account and power.
fn signer(ctx: &Ctx, spec: &str) -> Result<(EthAddress, u64)> {
    let (who, power) = match spec.split_once('=') {
        Some((who, p)) => (
            who,
            p.parse::<u64>().ok().filter(|p| *p > 0).ok_or_else(|| {
                anyhow!("signer {spec}: the power after = must be a positive integer")
            })?,
        ),
        None => (spec, 1),
    };
    let key = PublicKey::from_bytes(&ctx.public_key(who)?)
        .ok_or_else(|| anyhow!("signer {who}: not a public key"))?;
    if power > u64::from(u32::MAX) {
        bail!(
            "signer {spec}: a power above {} could overflow the contract's sum",
            u32::MAX
        );
    }
    Ok((EthAddress::of(&key), power))
}
