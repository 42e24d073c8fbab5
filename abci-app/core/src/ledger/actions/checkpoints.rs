//! Checkpoints on Ethereum: where members' signatures on an app hash meet.
//! The contract counts the signatures; the ledger only keeps each admin's
//! newest one (its signature already checked against the signing key with
//! the transaction, `tx::validate::checkpoint_signature`), so the state holds
//! one attestation per admin who attests, however long the chain runs. Per
//! admin, not per member: a member with two admins (one running the
//! checkpointer, one at a keyboard) does not have one's attestation refuse
//! the other's.

use crate::proto::{AttestCheckpoint, CheckpointAttestation, Role};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::actors::require_staff;
use super::super::context::Ctx;
use super::super::keys;

pub fn attest(ctx: &mut Ctx, a: &AttestCheckpoint) -> Result<(), Refusal> {
    let admin = require_staff(
        ctx.state,
        &ctx.signer,
        &[Role::Admin],
        "an admin of a member organisation may attest checkpoints",
    )?;
    // The app hash after block h is known from block h + 1 on.
    if a.height >= ctx.height {
        return refuse(
            Code::InvalidField,
            format!(
                "height {} has no app hash yet in block {}: attest a height below it",
                a.height, ctx.height
            ),
        );
    }
    let key = keys::attestation(&admin.org_id, &ctx.signer);
    if let Some(last) = ctx.state.get::<CheckpointAttestation>(key.as_bytes())? {
        if a.height <= last.height {
            return refuse(
                Code::StaleAttestation,
                format!(
                    "this admin of {} already attested height {}: an admin's attestations go up",
                    admin.org_id, last.height
                ),
            );
        }
    }
    ctx.state.put(
        key,
        &CheckpointAttestation {
            org_id: admin.org_id.clone(),
            signer: ctx.signer.0.to_vec(),
            public_key: ctx.signer_key.to_bytes().to_vec(),
            height: a.height,
            app_hash: a.app_hash.clone(),
            signature: a.signature.clone(),
            attested_in: ctx.height as i64,
        },
    );
    ctx.emit(
        "checkpoint_attested",
        &[
            ("org_id", admin.org_id),
            ("height", a.height.to_string()),
            ("app_hash", hex::encode(&a.app_hash)),
        ],
    );
    Ok(())
}
