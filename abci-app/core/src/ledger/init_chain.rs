//! InitChain: the genesis state — founding members, their admins, the
//! validators, the code directory's first codes — written and committed
//! before the first block.

use super::*;

impl Ledger {
    /// Writes the genesis state, committed at version `initial_height - 1`.
    /// Called again with the same genesis before any block (a restart after
    /// InitChain), it answers the same app hash.
    pub fn init_chain(
        &self,
        chain_id: &str,
        genesis: &Genesis,
        genesis_time: i64,
        initial_height: u64,
    ) -> Result<InitResult, LedgerError> {
        let checked = genesis.check()?;
        let validators: Vec<ValidatorUpdate> = checked
            .validators
            .iter()
            .map(|(v, key)| ValidatorUpdate {
                pub_key: key.clone(),
                power: v.power,
            })
            .collect();
        let genesis_hash = crate::crypto::sha256(&serde_json::to_vec(genesis).unwrap_or_default());
        if let (Some(chain), Some(committed)) = (self.chain(), self.storage.committed()?) {
            if chain.chain_id == chain_id
                && chain.genesis_hash == genesis_hash
                && chain.block_height == 0
            {
                return Ok(InitResult {
                    app_hash: committed.root,
                    validators,
                });
            }
            return Err(LedgerError::GenesisMismatch(chain.chain_id.clone()));
        }
        let mut state = BlockState::new(self.storage.snapshot()?);
        let chain = ChainInfo {
            chain_id: chain_id.to_string(),
            block_height: 0,
            block_time: genesis_time,
            genesis_hash: genesis_hash.to_vec(),
        };
        state.put(keys::CHAIN, &chain);
        for (m, key) in &checked.members {
            state.put(
                keys::organisation(&m.org_id),
                &Organisation {
                    org_id: m.org_id.clone(),
                    name: m.name.clone(),
                    status: MemberStatus::Active as i32,
                    joined_at: genesis_time,
                },
            );
            let mut ctx = context::Ctx {
                state: &mut state,
                signer: key.address(),
                signer_key: key.clone(),
                height: initial_height.saturating_sub(1),
                time: genesis_time,
                events: vec![],
                validator_updates: vec![],
            };
            actions::organisations::enroll(
                &mut ctx,
                key,
                &m.org_id,
                ParticipantKind::Staff,
                Role::Admin as i32,
                0,
            );
        }
        if let Some((_, founder)) = checked.members.first() {
            let mut ctx = context::Ctx {
                state: &mut state,
                signer: founder.address(),
                signer_key: founder.clone(),
                height: initial_height.saturating_sub(1),
                time: genesis_time,
                events: vec![],
                validator_updates: vec![],
            };
            for e in &checked.codes {
                codes::put_new(&mut ctx, 0, e);
            }
        }
        for (v, key) in &checked.validators {
            state.put(
                keys::validator(key),
                &Validator {
                    pub_key: key.clone(),
                    power: v.power,
                    operator_org: v.operator_org.clone(),
                },
            );
        }
        state.commit_tx();
        let prepared = self
            .storage
            .prepare(initial_height.saturating_sub(1), state.into_writes())?;
        let committed = self.storage.commit(prepared)?;
        *self
            .chain
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(chain);
        lock(&self.mempool).clear();
        Ok(InitResult {
            app_hash: committed.root,
            validators,
        })
    }
}
