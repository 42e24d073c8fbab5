//! Whom a caller's key signs for, on proof: the participant a rotation or a
//! recovery bound it to (`/key/<key address>`), else the key's own address.
//! A participant's key that was replaced is refused from the block after the
//! one that replaced it (the newest state a header proves), for every route:
//! a lost phone or a stolen laptop stops here as it stops at the ledger.

use ehr_client::rpc::proven::ProvenState;
use ehr_ledger::crypto::{Address, PublicKey};
use ehr_ledger::ledger::{actors, keys};
use ehr_ledger::Code;

use crate::error::{ErrorCode, Failure};

/// The participant `key` signs for now, or the key's own address when it
/// signs for nobody the chain knows (the routes then decide, as for anyone):
/// the ledger's rule (`actors::signer`) on proven state.
pub async fn signs_for(chain: &ProvenState, key: &PublicKey) -> Result<Address, Failure> {
    let own = key.address();
    let mut view = chain.latest().await?;
    // Both at once: most keys are their participant's first.
    view.prove([
        keys::key_binding(&own).into_bytes(),
        keys::participant(&own).into_bytes(),
    ])
    .await?;
    match view.run(|state| actors::signer(state, key)).await? {
        Ok(person) => Ok(person),
        Err(r) if r.code == Code::KeyReplaced => Err(Failure::new(
            ErrorCode::KeyReplaced,
            format!(
                "{} (a lost key is recovered through your recovery contacts)",
                r.message
            ),
        )),
        Err(r) => Err(Failure::new(ErrorCode::ChainUnproven, r.message)),
    }
}
