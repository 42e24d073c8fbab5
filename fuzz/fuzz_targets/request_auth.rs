//! Any header values and query times at the gateway: the signed-request
//! parser and the RFC 3339 parser refuse, never panic or overflow.
#![no_main]

use ehr_client::read_path::request_auth::{verify, AuthHeaders};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(7, '\n');
    let mut next = || parts.next().unwrap_or("").to_string();
    let h = AuthHeaders {
        audience: next(),
        public_key: next(),
        timestamp: next(),
        nonce: next(),
        signature: next(),
    };
    let path = next();
    let now = i64::from_le_bytes(
        data.get(..8)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 8]),
    );
    let _ = verify(&h, "ehr1gateway", "GET", &path, data, now);
    let _ = ehr_ledger::time::parse_rfc3339(&text);
    let _ = ehr_ledger::time::parse_rfc3339(&path);
});
