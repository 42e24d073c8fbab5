//! `ehr tx rotate-key`: the old key signs the new key's binding; then a
//! patient's client, which still holds the old key, re-wraps her past data
//! keys for the new one — nobody else can, and nothing is lost.

use std::time::Duration;

use anyhow::anyhow;
use ehr_ledger::crypto::{Address, SecretKey};
use ehr_ledger::ledger::actions::rotation::{prove_binding, Binding};
use ehr_ledger::proto::{action::Kind, KeyBinding, Participant, ParticipantKind, RotateKey};

use crate::{read, Ctx, Result};

/// Whom `key` signs for, as the chain says (the ledger checks it again).
pub(crate) async fn identity_of(ctx: &Ctx, key: &Address) -> Result<Address> {
    let bound: Option<KeyBinding> = ctx.rpc.query(&format!("/key/{key}")).await?;
    Ok(bound
        .and_then(|b| Address::from_slice(&b.identity))
        .unwrap_or(*key))
}

/// Rotates `old`'s key (or, for an admin, `participant`'s) to the local key
/// `new`, or to a key held elsewhere given with its proof.
pub(crate) async fn rotate(
    ctx: &Ctx,
    old: &SecretKey,
    new: Option<&str>,
    participant: Option<&str>,
    shown: Option<(&str, &str)>,
) -> Result<bool> {
    let me = match participant {
        Some(p) => ctx.address(p)?,
        None => identity_of(ctx, &old.address()).await?,
    };
    let (new_public_key, new_key_proof, new) = match (new, shown) {
        (Some(name), _) => {
            let new = ctx.keys.load(name)?;
            let proof = prove_binding(&new, Binding::Rotation, &me);
            (new.public_key().to_bytes().to_vec(), proof, Some(new))
        }
        (None, Some((key, proof))) => (
            ctx.public_key(key)?,
            hex::decode(proof)
                .ok()
                .filter(|p| p.len() == 64)
                .ok_or_else(|| {
                    anyhow!("--proof must be 128 hex digits (ehr keys prove-binding)")
                })?,
            None,
        ),
        (None, None) => {
            return Err(anyhow!(
                "name the new key: --new <local name>, or --key and --proof"
            ))
        }
    };
    let kind = Kind::RotateKey(RotateKey {
        new_public_key,
        new_key_proof,
        participant: participant.map(|_| me.0.to_vec()).unwrap_or_default(),
    });
    if !super::submit(ctx, old, false, kind).await? {
        return Ok(false);
    }
    // Only the patient's own client holds both keys, to re-wrap her past.
    let Some(new) = new.filter(|_| participant.is_none()) else {
        if participant.is_none() {
            println!("the keys of your past records stay wrapped for the old key until re-wrapped where the new one is: ehr rewrap --as <old key> --sign-with <new key> --patient {me} --reader {me} --category all");
        }
        return Ok(true);
    };
    let p: Option<Participant> = ctx.rpc.query(&format!("/participant/{me}")).await?;
    if p.map(|p| p.kind) != Some(ParticipantKind::Patient as i32) {
        return Ok(true);
    }
    // The gateway knows the new key once a header proves the block that
    // bound it (a block or two).
    let mut tries = 0;
    let done = loop {
        match read::rewrap_keys(ctx, old, &new, &me, &me, &new.public_key(), "all").await {
            Ok(done) => break done,
            Err(e) if tries < 20 => {
                tries += 1;
                tracing::debug!(error = %e, "the gateway does not know the new key yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                return Err(anyhow!(
                    "the key is rotated, but your past data keys were not re-wrapped for it yet: {e} — \
                     try again with: ehr rewrap --as <old key> --sign-with <new key> --patient {me} --reader {me} --category all"
                ))
            }
        }
    };
    // Her documents' keys: her client holds no list of them to re-wrap,
    // so the gateways' escrow does, under the rotation on chain.
    let gateway = ehr_client::read_path::client::GatewayClient::new(&ctx.gateway, new.clone());
    let (_, documents) = gateway
        .recover_keys(&me, "documents")
        .await
        .map_err(|e| anyhow!("your readings are re-wrapped, not yet your documents: {e} — run ehr recover-keys --as <new key> --patient {me}"))?;
    println!(
        "re-wrapped {} data key(s) of your past records for your new key, opening {} record(s), and the keys of {documents} document(s)",
        done.stored, done.records
    );
    Ok(done.unreadable == 0)
}
