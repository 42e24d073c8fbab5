//! Any bytes as a transaction: the envelope and body decoders (canonical
//! encoding required) and the stateless checks of the action refuse with a
//! code, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = ehr_ledger::tx::decode_and_verify(data, "ehr-fuzz") {
        let _ = ehr_ledger::tx::validate::validate_action(&tx.action);
    }
    // The body and action alone, as a signer's client would build them.
    if let Ok(body) = <ehr_ledger::proto::TxBody as prost::Message>::decode(data) {
        if let Some(kind) = body.action.and_then(|a| a.kind) {
            let _ = ehr_ledger::tx::validate::validate_action(&kind);
        }
    }
});
