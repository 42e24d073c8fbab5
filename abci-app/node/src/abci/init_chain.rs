//! InitChain: the genesis state from `app_state`, and the validator set.

use tendermint_proto::v0_38::crypto::{public_key, PublicKey};

use super::proto::{RequestInitChain, ResponseInitChain, ValidatorUpdate};
use super::unix_seconds;
use super::AbciError;
use ehr_ledger::ledger::{Genesis, Ledger};

pub fn init_chain(ledger: &Ledger, r: RequestInitChain) -> Result<ResponseInitChain, AbciError> {
    let genesis = Genesis::from_json(&r.app_state_bytes)?;
    let initial_height = u64::try_from(r.initial_height.max(1)).unwrap_or(1);
    let result = ledger.init_chain(&r.chain_id, &genesis, unix_seconds(r.time), initial_height)?;
    // The ledger's genesis names each validator's operator; its set is the one
    // CometBFT adopts. A differing set in CometBFT's genesis is reported.
    let validators: Vec<ValidatorUpdate> = result
        .validators
        .into_iter()
        .map(validator_update)
        .collect();
    if !r.validators.is_empty() && !same_set(&r.validators, &validators) {
        tracing::warn!(
            "the validators of CometBFT's genesis differ from app_state's; app_state's apply"
        );
    }
    tracing::info!(chain_id = %r.chain_id, members = genesis.members.len(), validators = validators.len(), "InitChain");
    Ok(ResponseInitChain {
        consensus_params: None,
        validators,
        app_hash: result.app_hash.to_vec().into(),
    })
}

pub fn validator_update(v: ehr_ledger::ledger::ValidatorUpdate) -> ValidatorUpdate {
    ValidatorUpdate {
        pub_key: Some(PublicKey {
            sum: Some(public_key::Sum::Ed25519(v.pub_key)),
        }),
        power: v.power,
    }
}

fn same_set(a: &[ValidatorUpdate], b: &[ValidatorUpdate]) -> bool {
    let key = |v: &ValidatorUpdate| (format!("{:?}", v.pub_key), v.power);
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}
