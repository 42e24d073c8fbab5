//! The FHIR REST interactions the API answers, one file each; everything
//! else is an OperationOutcome saying what is supported.

mod audit_events;
mod codes;
mod metadata;
mod observations;
mod patients;
mod requests;

use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use ehr_client::rpc::proven::ProvenState;
use ehr_transport::Peer;

use crate::callers::{Callers, Clinician, ON_BEHALF_OF};
use crate::outcome::FhirError;

/// What every request shares.
pub struct Api {
    pub callers: Callers,
    /// The chain's state on proof, and the headers records are checked against.
    pub chain: ProvenState,
    /// The API's own base URL, as its links and fullUrls name it.
    pub base: String,
}

pub type Shared = axum::extract::State<Arc<Api>>;

impl Api {
    /// The clinician this request acts for.
    pub fn clinician(
        &self,
        peer: &ConnectInfo<Peer>,
        headers: &HeaderMap,
    ) -> Result<&Clinician, FhirError> {
        let on_behalf_of = match headers.get(ON_BEHALF_OF) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| {
                FhirError::invalid(
                    "bad_on_behalf_of",
                    "X-On-Behalf-Of is not text: give a clinician's key name or address",
                )
            })?),
        };
        self.callers
            .resolve(peer.0.client_name.as_deref(), on_behalf_of)
    }

    /// A `[base]/<path>?<query>` link.
    pub fn link(&self, path: &str, query: &str) -> String {
        if query.is_empty() {
            format!("{}/{path}", self.base)
        } else {
            format!("{}/{path}?{query}", self.base)
        }
    }
}

pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/fhir/metadata", get(metadata::capability_statement))
        .route("/fhir/Patient/{id}", get(patients::read))
        .route("/fhir/Observation", get(observations::search))
        .route("/fhir/AuditEvent", get(audit_events::search))
        .route(
            "/fhir/MedicationRequest",
            get(requests::medication_requests),
        )
        .route("/fhir/ServiceRequest", get(requests::service_requests))
        .route("/fhir/CodeSystem/$lookup", get(codes::lookup_code))
        .fallback(unsupported)
        .method_not_allowed_fallback(read_only)
        .with_state(api)
}

async fn read_only(method: axum::http::Method, uri: axum::http::Uri) -> FhirError {
    FhirError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        "read_only",
        format!(
            "{method} {} is not supported: this API reads (GET); records are written through the ledger's own clients",
            uri.path()
        ),
    )
}

async fn unsupported(uri: axum::http::Uri) -> FhirError {
    FhirError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not-supported",
        "not_supported",
        format!(
            "{} is not an interaction this API supports: GET [base]/metadata lists them (Patient read; Observation, AuditEvent, MedicationRequest and ServiceRequest search by patient; CodeSystem/$lookup)",
            uri.path()
        ),
    )
}
