//! Info: where the ledger is, so CometBFT knows what to replay.

use super::proto::{RequestInfo, ResponseInfo};
use super::AbciError;
use ehr_ledger::ledger::Ledger;

pub const APP_VERSION: u64 = 1;

pub fn info(ledger: &Ledger, request: RequestInfo) -> Result<ResponseInfo, AbciError> {
    tracing::info!(cometbft = %request.version, abci = %request.abci_version, "Info");
    let status = ledger.status()?;
    Ok(ResponseInfo {
        data: "ehr-ledger".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        app_version: APP_VERSION,
        last_block_height: status.as_ref().map_or(0, |s| s.block_height as i64),
        last_block_app_hash: status
            .map(|s| s.app_hash.to_vec())
            .unwrap_or_default()
            .into(),
    })
}
