//! What every read without a body checks first, in this order: the patient
//! named in the path, then the caller's signature over the request.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use ehr_client::read_path::request_auth::Caller;
use ehr_ledger::crypto::Address;

use super::params::patient_address;
use crate::auth::authenticate;
use crate::error::{ErrorCode, Failure};
use crate::Gateway;

/// A signed request about one patient.
pub(crate) struct SignedRead {
    pub patient: Address,
    pub caller: Caller,
}

impl FromRequestParts<Arc<Gateway>> for SignedRead {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, g: &Arc<Gateway>) -> Result<Self, Failure> {
        let Path(patient) = Path::<String>::from_request_parts(parts, g)
            .await
            .map_err(|e| Failure::new(ErrorCode::BadPatient, e.body_text()))?;
        let patient = patient_address(&patient)?;
        let caller = authenticate(g, &parts.method, &parts.uri, &parts.headers, &[]).await?;
        Ok(SignedRead { patient, caller })
    }
}
