//! CheckTx, new and recheck: the ledger's mempool view decides.

use super::proto::{RequestCheckTx, ResponseCheckTx};
use super::AbciError;
use super::{events, CODESPACE};
use ehr_ledger::ledger::Ledger;
use ehr_ledger::Code;

pub fn check_tx(ledger: &mut Ledger, r: RequestCheckTx) -> Result<ResponseCheckTx, AbciError> {
    let result = ledger.check_tx(&r.tx)?;
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
