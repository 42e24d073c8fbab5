//! What every request about a patient checks first, in this order: the
//! patient named in the path, then the caller's signature over the request
//! (and its body, when it has one).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use ehr_client::read_path::request_auth::Caller;
use ehr_ledger::crypto::Address;

use super::params::patient_address;
use crate::auth::authenticate;
use crate::error::{ErrorCode, Failure};
use crate::Gateway;

/// The patient named in the path.
async fn patient_of(parts: &mut Parts, g: &Arc<Gateway>) -> Result<Address, Failure> {
    let Path(patient) = Path::<String>::from_request_parts(parts, g)
        .await
        .map_err(|e| Failure::new(ErrorCode::BadPatient, e.body_text()))?;
    patient_address(&patient)
}

/// A signed request about one patient, without a body.
pub(crate) struct SignedRead {
    pub patient: Address,
    pub caller: Caller,
}

impl FromRequestParts<Arc<Gateway>> for SignedRead {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, g: &Arc<Gateway>) -> Result<Self, Failure> {
        let patient = patient_of(parts, g).await?;
        let caller = authenticate(g, &parts.method, &parts.uri, &parts.headers, &[]).await?;
        Ok(SignedRead { patient, caller })
    }
}

/// A signed request about one patient, with the body it signs.
pub(crate) struct SignedWrite {
    pub patient: Address,
    pub caller: Caller,
    pub body: Bytes,
}

impl FromRequest<Arc<Gateway>> for SignedWrite {
    /// A body that cannot be read gets axum's own answer, as before any check.
    type Rejection = Response;

    async fn from_request(request: Request, g: &Arc<Gateway>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let (method, uri, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        let patient = patient_of(&mut parts, g).await;
        let body = Bytes::from_request(Request::from_parts(parts, body), g)
            .await
            .map_err(IntoResponse::into_response)?;
        let patient = patient.map_err(IntoResponse::into_response)?;
        let caller = authenticate(g, &method, &uri, &headers, &body)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(SignedWrite {
            patient,
            caller,
            body,
        })
    }
}
