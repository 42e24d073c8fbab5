//! Whom a caller's key signs for, on proof: the participant a rotation or a
//! recovery bound it to (`/key/<key address>`), else the key's own address.
//! A participant's key that was replaced is refused from the block after the
//! one that replaced it (the newest state a header proves), for every route:
//! a lost phone or a stolen laptop stops here as it stops at the ledger.

use ehr_client::rpc::proven::ProvenState;
use ehr_ledger::crypto::{Address, PublicKey};
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{KeyBinding, Participant};

use crate::error::{ErrorCode, Failure};

/// The participant `key` signs for now, or the key's own address when it
/// signs for nobody the chain knows (the routes then decide, as for anyone).
pub async fn signs_for(chain: &ProvenState, key: &PublicKey) -> Result<Address, Failure> {
    let own = key.address();
    let mut view = chain.latest().await?;
    // Both at once: most keys are their participant's first.
    view.prove([
        keys::key_binding(&own).into_bytes(),
        keys::participant(&own).into_bytes(),
    ])
    .await?;
    let identity = match view.get::<KeyBinding>(&keys::key_binding(&own)).await? {
        Some(b) => Address::from_slice(&b.identity).ok_or_else(|| {
            Failure::new(
                ErrorCode::ChainUnproven,
                format!("the chain binds {own} to a malformed address"),
            )
        })?,
        None => own,
    };
    match view.get::<Participant>(&keys::participant(&identity)).await? {
        Some(p) if p.public_key != key.to_bytes() => Err(Failure::new(
            ErrorCode::KeyReplaced,
            format!(
                "the key {own} of {identity} was replaced at block {}: it opens nothing now; sign with the current key (a lost key is recovered through your recovery contacts)",
                p.key_height
            ),
        )),
        _ => Ok(identity),
    }
}
