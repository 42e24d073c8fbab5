//! Every refusal as a status, a stable code and a sentence a person can act on.
//! The codes are the API's contract (docs/gateway.openapi.yaml lists them all).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ehr_client::read_path::api::ApiError;

/// Declares the codes once: each variant with its wire name and HTTP status;
/// `ALL`, `as_str` and `status` follow from the one table.
macro_rules! error_codes {
    ($($variant:ident = ($name:literal, $status:ident),)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    Unsigned = ("unsigned", UNAUTHORIZED),
    MalformedSignatureHeader = ("malformed_signature_header", UNAUTHORIZED),
    StaleRequest = ("stale_request", UNAUTHORIZED),
    BadSignature = ("bad_signature", UNAUTHORIZED),
    WrongAudience = ("wrong_audience", UNAUTHORIZED),
    Replayed = ("replayed", UNAUTHORIZED),
    KeyReplaced = ("key_replaced", UNAUTHORIZED),
    AccessDenied = ("access_denied", FORBIDDEN),
    PatientOrGuardianOnly = ("patient_or_guardian_only", FORBIDDEN),
    ReaderNotAllowed = ("reader_not_allowed", FORBIDDEN),
    NoRecovery = ("no_recovery", FORBIDDEN),
    BadPatient = ("bad_patient", BAD_REQUEST),
    BadCategory = ("bad_category", BAD_REQUEST),
    BadTime = ("bad_time", BAD_REQUEST),
    BadParameter = ("bad_parameter", BAD_REQUEST),
    BadPurpose = ("bad_purpose", BAD_REQUEST),
    BadReader = ("bad_reader", BAD_REQUEST),
    BadBody = ("bad_body", BAD_REQUEST),
    BadWrap = ("bad_wrap", BAD_REQUEST),
    UnknownReader = ("unknown_reader", BAD_REQUEST),
    UnknownRecord = ("unknown_record", NOT_FOUND),
    UnknownCode = ("unknown_code", NOT_FOUND),
    BadDocument = ("bad_document", BAD_REQUEST),
    DocumentExists = ("document_exists", CONFLICT),
    BadChainCall = ("bad_chain_call", BAD_REQUEST),
    ChainCallNotAllowed = ("chain_call_not_allowed", FORBIDDEN),
    RateLimited = ("rate_limited", TOO_MANY_REQUESTS),
    ChainAnswerTooLarge = ("chain_answer_too_large", BAD_GATEWAY),
    DatabaseUnavailable = ("database_unavailable", SERVICE_UNAVAILABLE),
    ChainUnavailable = ("chain_unavailable", SERVICE_UNAVAILABLE),
    ChainUnproven = ("chain_unproven", BAD_GATEWAY),
    AuditUnavailable = ("audit_unavailable", SERVICE_UNAVAILABLE),
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
            "the gateway cannot reach its chain node to learn who asks and what they may read; nothing is served until it can — try again shortly",
        )
    }
}

impl From<ehr_client::rpc::proven::ProvenError> for Failure {
    fn from(e: ehr_client::rpc::proven::ProvenError) -> Self {
        use ehr_client::rpc::proven::ProvenError;
        match e {
            ProvenError::Rpc(e) => e.into(),
            e => {
                tracing::warn!(error = %e, "the chain's answer is not proven");
                Self::new(
                    ErrorCode::ChainUnproven,
                    format!("the gateway decides only on what the consortium's validators signed, and its chain node's answer did not prove it ({e}); nothing is served until it does — the hospital running this gateway should check its node"),
                )
            }
        }
    }
}
