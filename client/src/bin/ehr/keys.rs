//! `ehr keys`: local keys — generate, import, list, show.

use anyhow::anyhow;
use std::path::PathBuf;

use clap::Subcommand;
use ehr_ledger::crypto::SecretKey;

use crate::{Ctx, Result};

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a new key.
    Generate { name: String },
    /// Import a secret key (64 hex digits) from a file, or from standard input with `-`.
    Import { name: String, file: PathBuf },
    /// Every local key with its address.
    List,
    /// A key's address and public key.
    Show { name: String },
    /// The key's proof that it may be bound to a participant (`--for`): what
    /// a new phone shows its owner's recovery contacts and front desk (or,
    /// with --rotation, an admin replacing a stolen key).
    ProveBinding {
        name: String,
        /// The participant's address (their first key's).
        #[arg(long = "for")]
        identity: String,
        /// For a rotation (`rotate-key --key --proof`) rather than a recovery.
        #[arg(long)]
        rotation: bool,
    },
}

pub(crate) fn keys_command(ctx: &Ctx, k: &KeysCommand) -> Result<bool> {
    match k {
        KeysCommand::Generate { name } => {
            let key = SecretKey::generate();
            ctx.keys.save(name, &key)?;
            println!("{name}: {}", key.address());
        }
        KeysCommand::Import { name, file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin().read_line(&mut s)?;
                s
            } else {
                std::fs::read_to_string(file)
                    .map_err(|e| anyhow!("cannot read {}: {e}", file.display()))?
            };
            let bytes = hex::decode(text.trim())
                .map_err(|_| anyhow!("the secret key must be 64 hex digits"))?;
            let key = SecretKey::from_bytes(&bytes)
                .ok_or_else(|| anyhow!("that is not a valid secp256k1 secret key"))?;
            ctx.keys.save(name, &key)?;
            println!("{name}: {}", key.address());
        }
        KeysCommand::List => {
            let keys = ctx.keys.list();
            if ctx.json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|(n, a, p)| serde_json::json!({"name": n, "address": a, "public_key": p}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for (name, address, _) in keys {
                    println!("{name}\t{address}");
                }
            }
        }
        KeysCommand::ProveBinding {
            name,
            identity,
            rotation,
        } => {
            use ehr_ledger::ledger::actions::rotation::{prove_binding, Binding};
            let key = ctx.keys.load(name)?;
            let identity = ctx.address(identity)?;
            let why = if *rotation {
                Binding::Rotation
            } else {
                Binding::Recovery
            };
            let proof = prove_binding(&key, why, &identity);
            let public_key = hex::encode(key.public_key().to_bytes());
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"for": identity.to_string(), "public_key": public_key, "proof": hex::encode(&proof)})
                );
            } else {
                println!(
                    "for         {identity}\npublic key  {public_key}\nproof       {}",
                    hex::encode(&proof)
                );
            }
        }
        KeysCommand::Show { name } => {
            let key = ctx.keys.load(name)?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"name": name, "address": key.address().to_string(), "public_key": hex::encode(key.public_key().to_bytes())})
                );
            } else {
                println!(
                    "name        {name}\naddress     {}\npublic key  {}",
                    key.address(),
                    hex::encode(key.public_key().to_bytes())
                );
            }
        }
    }
    Ok(true)
}
