//! Who may read: the chain decides, at its latest block, for every request —
//! so a revocation takes effect from the block that holds it.

use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::{Address, PublicKey};
use ehr_ledger::ledger::access::category_name;
use ehr_ledger::proto::{AccessBasis, AccessDecision, Category, Participant};

use crate::error::{ErrorCode, Failure};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    pub basis: AccessBasis,
    /// The height whose state allowed it.
    pub height: u64,
}

/// Whether `reader` may read `category` of `patient`'s records now; 403 with
/// the chain's reason when not.
pub async fn may_read(
    rpc: &RpcClient,
    patient: &Address,
    reader: &Address,
    category: Category,
) -> Result<Allowed, Failure> {
    decision(rpc, patient, reader, category, "read").await
}

/// Whether `author` may write `category` of `patient`'s records now (the
/// patient, their guardian, a clinician with a write grant or an open
/// emergency access); 403 with the chain's reason when not.
pub async fn may_write(
    rpc: &RpcClient,
    patient: &Address,
    author: &Address,
    category: Category,
) -> Result<Allowed, Failure> {
    decision(rpc, patient, author, category, "write").await
}

async fn decision(
    rpc: &RpcClient,
    patient: &Address,
    reader: &Address,
    category: Category,
    level: &str,
) -> Result<Allowed, Failure> {
    let path = format!(
        "/access/{patient}/{reader}/{}/{level}",
        category_name(category)
    );
    let answer = rpc.query_proven::<AccessDecision>(&path, 0, false).await?;
    let d = answer.value.unwrap_or_default();
    if !d.allowed {
        return Err(Failure::new(ErrorCode::AccessDenied, d.reason));
    }
    Ok(Allowed {
        basis: AccessBasis::try_from(d.basis).unwrap_or(AccessBasis::Unspecified),
        height: answer.height,
    })
}

/// The caller must be the patient or their guardian (key management is theirs).
pub async fn patient_or_guardian(
    rpc: &RpcClient,
    patient: &Address,
    caller: &Address,
) -> Result<Allowed, Failure> {
    let allowed = may_read(rpc, patient, caller, Category::All)
        .await
        .map_err(|f| {
            if f.code == ErrorCode::AccessDenied {
                Failure::new(
                    ErrorCode::PatientOrGuardianOnly,
                    format!("only {patient} or their guardian manage the keys of their records"),
                )
            } else {
                f
            }
        })?;
    match allowed.basis {
        AccessBasis::Patient | AccessBasis::Guardian => Ok(allowed),
        _ => Err(Failure::new(
            ErrorCode::PatientOrGuardianOnly,
            format!("only {patient} or their guardian manage the keys of their records"),
        )),
    }
}

/// The public key a reader's wraps are made for: the guardian key the patient
/// registered, or the reader's registered key.
pub async fn reader_key(
    rpc: &RpcClient,
    patient: &Address,
    reader: &Address,
    basis: AccessBasis,
) -> Result<PublicKey, Failure> {
    let who = if basis == AccessBasis::Guardian {
        patient
    } else {
        reader
    };
    let p: Option<Participant> = rpc.query(&format!("/participant/{who}")).await?;
    let bytes = match (basis, p) {
        (AccessBasis::Guardian, Some(p)) => p.guardian_public_key,
        (_, Some(p)) => p.public_key,
        (_, None) => Vec::new(),
    };
    PublicKey::from_bytes(&bytes).ok_or_else(|| {
        Failure::new(
            ErrorCode::UnknownReader,
            format!("{reader} has no key registered on chain"),
        )
    })
}
