//! Every refusal as a FHIR OperationOutcome: the HTTP status, FHIR's issue
//! type, the project's refusal code and a sentence a person can act on —
//! the gateway's or the chain's own sentence when it is theirs.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use ehr_client::fhir;
use ehr_client::read_path::client::GatewayError;

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

#[derive(Debug)]
pub struct FhirError {
    pub status: StatusCode,
    /// FHIR's IssueType: invalid, forbidden, not-found, login, transient…
    pub issue: &'static str,
    pub code: String,
    pub sentence: String,
}

impl FhirError {
    pub fn new(
        status: StatusCode,
        issue: &'static str,
        code: &str,
        sentence: impl Into<String>,
    ) -> Self {
        FhirError {
            status,
            issue,
            code: code.to_string(),
            sentence: sentence.into(),
        }
    }

    pub fn invalid(code: &str, sentence: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", code, sentence)
    }

    pub fn forbidden(code: &str, sentence: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", code, sentence)
    }

    pub fn unauthenticated(sentence: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "login",
            "no_certificate",
            sentence,
        )
    }

    pub fn not_found(code: &str, sentence: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", code, sentence)
    }

    /// The chain could not be asked, or its answer did not verify.
    pub fn chain(sentence: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "transient",
            "chain_unverified",
            format!("the chain's answer could not be verified: {sentence}"),
        )
    }
}

impl From<GatewayError> for FhirError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Refused {
                status,
                code,
                message,
            } => {
                let (status, issue) = match status {
                    400 => (StatusCode::BAD_REQUEST, "invalid"),
                    // The gateway did not take this API's own signature (its
                    // clock, say): nothing the caller can mend.
                    401 => (StatusCode::BAD_GATEWAY, "transient"),
                    403 => (StatusCode::FORBIDDEN, "forbidden"),
                    404 => (StatusCode::NOT_FOUND, "not-found"),
                    429 => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
                    _ => (StatusCode::BAD_GATEWAY, "transient"),
                };
                FhirError::new(status, issue, &code, message)
            }
            other => FhirError::new(
                StatusCode::BAD_GATEWAY,
                "transient",
                "gateway_unavailable",
                other.to_string(),
            ),
        }
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let body = fhir::operation_outcome("error", self.issue, &self.code, &self.sentence);
        (
            self.status,
            [(header::CONTENT_TYPE, FHIR_JSON)],
            body.to_string(),
        )
            .into_response()
    }
}

/// A FHIR resource as the answer.
pub fn resource(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, FHIR_JSON)],
        value.to_string(),
    )
        .into_response()
}
