//! A member hospital's front desk: after checking who each patient is, its
//! admin enrolls their keys on chain, so that they may register.

use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, EnrollPatient};

use crate::rpc::{RpcClient, RpcError};

/// As a member's admin, enrolls patients' public keys (in transactions of
/// at most 500, consecutive nonces) and waits until the last is committed.
pub async fn enroll_patients(
    rpc: &RpcClient,
    admin: &SecretKey,
    public_keys: &[Vec<u8>],
) -> Result<(), RpcError> {
    if public_keys.is_empty() {
        return Ok(());
    }
    let chain = rpc.chain_id().await?;
    let mut nonce = rpc.next_nonce(&admin.address()).await?;
    let mut last = [0u8; 32];
    for chunk in public_keys.chunks(ehr_ledger::tx::validate::MAX_ENROLLMENTS_PER_TX) {
        let action = Kind::EnrollPatient(EnrollPatient {
            public_keys: chunk.to_vec(),
        });
        let tx = ehr_ledger::tx::sign_tx(admin, &chain, nonce, action);
        let r = rpc.broadcast_tx_sync(&tx).await?;
        if r.code != 0 {
            return Err(RpcError::Refused {
                what: "enrollment",
                log: r.log,
            });
        }
        nonce += 1;
        last = ehr_ledger::crypto::sha256(&tx);
    }
    match rpc
        .wait_for_tx(&last, std::time::Duration::from_secs(120))
        .await
    {
        Some(r) if r.tx_result.code == 0 => Ok(()),
        Some(r) => Err(RpcError::Refused {
            what: "enrollment",
            log: r.tx_result.log,
        }),
        None => Err(RpcError::NotCommitted {
            what: "the enrollments were",
            secs: 120,
        }),
    }
}
