//! Every refusal as a status, a stable code and a sentence a person can act on.
//! The codes are the API's contract (docs/gateway.openapi.yaml lists them all).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ehr_client::read_path::api::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    Unsigned,
    MalformedSignatureHeader,
    StaleRequest,
    BadSignature,
    WrongAudience,
    Replayed,
    AccessDenied,
    PatientOrGuardianOnly,
    ReaderNotAllowed,
    BadPatient,
    BadCategory,
    BadTime,
    BadParameter,
    BadPurpose,
    BadReader,
    BadBody,
    BadWrap,
    UnknownReader,
    UnknownRecord,
    BadDocument,
    DocumentExists,
    DatabaseUnavailable,
    ChainUnavailable,
    AuditUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 24] = [
        ErrorCode::Unsigned,
        ErrorCode::MalformedSignatureHeader,
        ErrorCode::StaleRequest,
        ErrorCode::BadSignature,
        ErrorCode::WrongAudience,
        ErrorCode::Replayed,
        ErrorCode::AccessDenied,
        ErrorCode::PatientOrGuardianOnly,
        ErrorCode::ReaderNotAllowed,
        ErrorCode::BadPatient,
        ErrorCode::BadCategory,
        ErrorCode::BadTime,
        ErrorCode::BadParameter,
        ErrorCode::BadPurpose,
        ErrorCode::BadReader,
        ErrorCode::BadBody,
        ErrorCode::BadWrap,
        ErrorCode::UnknownReader,
        ErrorCode::UnknownRecord,
        ErrorCode::BadDocument,
        ErrorCode::DocumentExists,
        ErrorCode::DatabaseUnavailable,
        ErrorCode::ChainUnavailable,
        ErrorCode::AuditUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unsigned => "unsigned",
            ErrorCode::MalformedSignatureHeader => "malformed_signature_header",
            ErrorCode::StaleRequest => "stale_request",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::WrongAudience => "wrong_audience",
            ErrorCode::Replayed => "replayed",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::PatientOrGuardianOnly => "patient_or_guardian_only",
            ErrorCode::ReaderNotAllowed => "reader_not_allowed",
            ErrorCode::BadPatient => "bad_patient",
            ErrorCode::BadCategory => "bad_category",
            ErrorCode::BadTime => "bad_time",
            ErrorCode::BadParameter => "bad_parameter",
            ErrorCode::BadPurpose => "bad_purpose",
            ErrorCode::BadReader => "bad_reader",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::BadWrap => "bad_wrap",
            ErrorCode::UnknownReader => "unknown_reader",
            ErrorCode::UnknownRecord => "unknown_record",
            ErrorCode::BadDocument => "bad_document",
            ErrorCode::DocumentExists => "document_exists",
            ErrorCode::DatabaseUnavailable => "database_unavailable",
            ErrorCode::ChainUnavailable => "chain_unavailable",
            ErrorCode::AuditUnavailable => "audit_unavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unsigned => StatusCode::UNAUTHORIZED,
            ErrorCode::MalformedSignatureHeader => StatusCode::UNAUTHORIZED,
            ErrorCode::StaleRequest => StatusCode::UNAUTHORIZED,
            ErrorCode::BadSignature => StatusCode::UNAUTHORIZED,
            ErrorCode::WrongAudience => StatusCode::UNAUTHORIZED,
            ErrorCode::Replayed => StatusCode::UNAUTHORIZED,
            ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
            ErrorCode::PatientOrGuardianOnly => StatusCode::FORBIDDEN,
            ErrorCode::ReaderNotAllowed => StatusCode::FORBIDDEN,
            ErrorCode::BadPatient => StatusCode::BAD_REQUEST,
            ErrorCode::BadCategory => StatusCode::BAD_REQUEST,
            ErrorCode::BadTime => StatusCode::BAD_REQUEST,
            ErrorCode::BadParameter => StatusCode::BAD_REQUEST,
            ErrorCode::BadPurpose => StatusCode::BAD_REQUEST,
            ErrorCode::BadReader => StatusCode::BAD_REQUEST,
            ErrorCode::BadBody => StatusCode::BAD_REQUEST,
            ErrorCode::BadWrap => StatusCode::BAD_REQUEST,
            ErrorCode::UnknownReader => StatusCode::BAD_REQUEST,
            ErrorCode::UnknownRecord => StatusCode::NOT_FOUND,
            ErrorCode::BadDocument => StatusCode::BAD_REQUEST,
            ErrorCode::DocumentExists => StatusCode::CONFLICT,
            ErrorCode::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ChainUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.code.status(),
            Json(ApiError {
                code: self.code.as_str().to_string(),
                message: self.message,
            }),
        )
            .into_response()
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        tracing::error!(error = %e, "no database connection");
        Self::new(
            ErrorCode::DatabaseUnavailable,
            "the gateway cannot reach its database; try again shortly",
        )
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        tracing::error!(error = %e, "database error");
        Self::new(
            ErrorCode::DatabaseUnavailable,
            "the gateway's database did not answer; try again shortly",
        )
    }
}

impl From<ehr_client::rpc::RpcError> for Failure {
    fn from(e: ehr_client::rpc::RpcError) -> Self {
        tracing::warn!(error = %e, "the chain did not answer");
        Self::new(
            ErrorCode::ChainUnavailable,
            "the gateway cannot ask the chain who may read these records; nothing is served until it can — try again shortly",
        )
    }
}
