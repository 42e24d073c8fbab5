//! FinalizeBlock: apply the decided block; results, validator updates, app hash.

use super::init_chain::validator_update;
use super::proto::{ExecTxResult, RequestFinalizeBlock, ResponseFinalizeBlock};
use super::AbciError;
use super::{events, unix_seconds, CODESPACE};
use ehr_ledger::ledger::Ledger;
use ehr_ledger::Code;

pub fn finalize_block(
    ledger: &Ledger,
    r: RequestFinalizeBlock,
) -> Result<ResponseFinalizeBlock, AbciError> {
    let txs: Vec<Vec<u8>> = r.txs.iter().map(|t| t.to_vec()).collect();
    let height = u64::try_from(r.height).map_err(|_| AbciError::NegativeHeight(r.height))?;
    let block = ledger.finalize_block(height, unix_seconds(r.time), &txs)?;
    let accepted = block.tx_results.iter().filter(|t| t.is_ok()).count();
    tracing::info!(height, txs = txs.len(), accepted, app_hash = %hex::encode(block.app_hash), "FinalizeBlock");
    Ok(ResponseFinalizeBlock {
        events: vec![],
        tx_results: block
            .tx_results
            .into_iter()
            .map(|t| ExecTxResult {
                code: t.code as u32,
                log: t.log,
                events: events(t.events),
                codespace: if t.code == Code::Ok {
                    String::new()
                } else {
                    CODESPACE.into()
                },
                ..Default::default()
            })
            .collect(),
        validator_updates: block
            .validator_updates
            .into_iter()
            .map(validator_update)
            .collect(),
        consensus_param_updates: None,
        app_hash: block.app_hash.to_vec().into(),
    })
}
