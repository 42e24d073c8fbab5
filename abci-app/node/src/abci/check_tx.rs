//! CheckTx, new and recheck: the ledger's mempool view decides (a recheck
//! of a transaction it holds is a lookup).

use super::proto::{CheckTxType, RequestCheckTx, ResponseCheckTx};
use super::AbciError;
use super::{events, CODESPACE};
use ehr_ledger::ledger::{CheckKind, Ledger};
use ehr_ledger::Code;

pub fn check_tx(ledger: &Ledger, r: RequestCheckTx) -> Result<ResponseCheckTx, AbciError> {
    let kind = if r.r#type == CheckTxType::Recheck as i32 {
        CheckKind::Recheck
    } else {
        CheckKind::New
    };
    let result = ledger.check_tx_of_kind(&r.tx, kind)?;
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
