//! CheckTx, new and recheck: the ledger's mempool view decides.

use super::proto::{RequestCheckTx, ResponseCheckTx};
use super::{events, CODESPACE};
use ehr_ledger::ledger::Ledger;
use ehr_ledger::Code;

pub fn check_tx(ledger: &mut Ledger, r: RequestCheckTx) -> Result<ResponseCheckTx, String> {
    let result = ledger.check_tx(&r.tx).map_err(|e| e.to_string())?;
    Ok(ResponseCheckTx {
        code: result.code as u32,
        log: result.log,
        events: events(result.events),
        codespace: if result.code == Code::Ok {
            String::new()
        } else {
            CODESPACE.into()
        },
        gas_wanted: 1,
        ..Default::default()
    })
}
