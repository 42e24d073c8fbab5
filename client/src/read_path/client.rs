//! A client of the record gateway: every request signed with the caller's key
//! (`request_auth`), every refusal returned with the gateway's code and sentence.

use serde::de::DeserializeOwned;

use super::api::{
    ApiError, DocumentStored, DocumentUpload, DocumentsPage, KeysPage, RecordsPage, RecoveredKeys,
    WrapResult, WrapUpload,
};
use super::request_auth;
use crate::service::now_ms;
use ehr_ledger::crypto::{Address, SecretKey};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the gateway at {url} cannot be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{message} ({code}, HTTP {status})")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the gateway's answer could not be read: {0}")]
    Decode(String),
}

impl GatewayError {
    /// The gateway's refusal code, if it refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            GatewayError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// What to ask for: a category, optionally a time range (unix seconds) and a page.
#[derive(Clone, Debug, Default)]
pub struct RecordsQuery {
    pub category: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub after: Option<i64>,
    pub limit: Option<i64>,
    /// Only readings of these LOINC codes (the gateway serves and discloses nothing else).
    pub loinc: Vec<String>,
    /// treatment (default), emergency, patient_request, payment, operations
    pub purpose: Option<String>,
}

impl RecordsQuery {
    pub fn category(category: &str) -> Self {
        Self {
            category: category.to_string(),
            ..Default::default()
        }
    }

    fn to_query(&self) -> String {
        let mut q = vec![format!("category={}", self.category)];
        if let Some(f) = self.from {
            q.push(format!("from={}", ehr_ledger::time::rfc3339(f)));
        }
        if let Some(t) = self.to {
            q.push(format!("to={}", ehr_ledger::time::rfc3339(t)));
        }
        if let Some(a) = self.after {
            q.push(format!("after={a}"));
        }
        if let Some(l) = self.limit {
            q.push(format!("limit={l}"));
        }
        if !self.loinc.is_empty() {
            q.push(format!("loinc={}", self.loinc.join(",")));
        }
        if let Some(p) = &self.purpose {
            q.push(format!("purpose={p}"));
        }
        q.join("&")
    }
}

#[derive(Clone)]
pub struct GatewayClient {
    base: String,
    http: reqwest::Client,
    key: SecretKey,
    /// The gateway's address, which requests are signed for: asked of its
    /// `/health` once.
    audience: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl GatewayClient {
    /// `base` is the gateway's origin, e.g. `https://gateway.example:8443`;
    /// the process's TLS (`transport::install`) checks its certificate.
    pub fn new(base: &str, key: SecretKey) -> Self {
        Self::using(base, key, &ehr_transport::process())
    }

    /// A client with the TLS given rather than the process's.
    pub fn using(base: &str, key: SecretKey, transport: &ehr_transport::Transport) -> Self {
        let http = transport.http(std::time::Duration::from_secs(60));
        Self {
            base: base.trim_end_matches('/').to_string(),
            http,
            key,
            audience: Default::default(),
        }
    }

    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// One page of a patient's records of a category.
    pub async fn records(
        &self,
        patient: &Address,
        q: &RecordsQuery,
    ) -> Result<RecordsPage, GatewayError> {
        let path = format!("/v1/patients/{patient}/records?{}", q.to_query());
        self.send("GET", &path, Vec::new()).await
    }

    /// Every page of a patient's records of a category.
    pub async fn all_records(
        &self,
        patient: &Address,
        q: &RecordsQuery,
    ) -> Result<RecordsPage, GatewayError> {
        let mut first = self.records(patient, q).await?;
        let mut next = first.next_after;
        while let Some(after) = next {
            let page = self
                .records(
                    patient,
                    &RecordsQuery {
                        after: Some(after),
                        ..q.clone()
                    },
                )
                .await?;
            next = page.next_after;
            first.records.extend(page.records);
        }
        first.next_after = None;
        Ok(first)
    }

    /// The caller's own wrapped keys for the patient's records of `category`
    /// that `missing_for` has no key for yet (patient or guardian only).
    pub async fn own_keys(
        &self,
        patient: &Address,
        category: &str,
        missing_for: &Address,
        after: Option<i64>,
    ) -> Result<KeysPage, GatewayError> {
        let mut path = format!(
            "/v1/patients/{patient}/wrapped-keys?category={category}&missing_for={missing_for}"
        );
        if let Some(a) = after {
            path.push_str(&format!("&after={a}"));
        }
        self.send("GET", &path, Vec::new()).await
    }

    pub async fn upload_wraps(
        &self,
        patient: &Address,
        upload: &WrapUpload,
    ) -> Result<WrapResult, GatewayError> {
        let path = format!("/v1/patients/{patient}/wrapped-keys");
        let body = serde_json::to_vec(upload).map_err(|e| GatewayError::Decode(e.to_string()))?;
        self.send("POST", &path, body).await
    }

    /// Has the gateway re-wrap the caller's escrowed keys (`kind`: readings
    /// or documents) for her recovered key, every page; how many keys, and
    /// the records they open.
    pub async fn recover_keys(
        &self,
        patient: &Address,
        kind: &str,
    ) -> Result<(u64, u64), GatewayError> {
        let mut after = 0;
        let mut total = (0, 0);
        loop {
            let path = format!(
                "/v1/patients/{patient}/recovered-keys?purpose=key_recovery&kind={kind}&after={after}"
            );
            let page: RecoveredKeys = self.send("GET", &path, Vec::new()).await?;
            total.0 += page.rewrapped;
            total.1 += page.records;
            match page.next_after {
                Some(next) => after = next,
                None => return Ok(total),
            }
        }
    }

    /// Stores a clinical document written by the caller (`documents::seal`).
    pub async fn put_document(
        &self,
        patient: &Address,
        upload: &DocumentUpload,
    ) -> Result<DocumentStored, GatewayError> {
        let path = format!("/v1/patients/{patient}/documents");
        let body = serde_json::to_vec(upload).map_err(|e| GatewayError::Decode(e.to_string()))?;
        self.send("POST", &path, body).await
    }

    /// One page of the patient's documents of `category` the caller may read.
    pub async fn documents(
        &self,
        patient: &Address,
        category: &str,
        after: Option<i64>,
    ) -> Result<DocumentsPage, GatewayError> {
        self.documents_for(patient, category, after, None).await
    }

    /// The same, read for `purpose` (treatment, operations …; by default the
    /// one the caller's basis implies), as the audit trail records it.
    pub async fn documents_for(
        &self,
        patient: &Address,
        category: &str,
        after: Option<i64>,
        purpose: Option<&str>,
    ) -> Result<DocumentsPage, GatewayError> {
        let mut path = format!("/v1/patients/{patient}/documents?category={category}");
        if let Some(a) = after {
            path.push_str(&format!("&after={a}"));
        }
        if let Some(p) = purpose {
            path.push_str(&format!("&purpose={p}"));
        }
        self.send("GET", &path, Vec::new()).await
    }

    /// The gateway's own address, as its `/health` says.
    async fn audience(&self) -> Result<String, GatewayError> {
        if let Some(a) = self.audience.get() {
            return Ok(a.clone());
        }
        let unreachable = |e: reqwest::Error| GatewayError::Unreachable {
            url: self.base.clone(),
            reason: ehr_transport::explain(&e),
        };
        let response = self
            .http
            .get(format!("{}/health", self.base))
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(unreachable)?;
        // A gateway that cannot serve (its database away, say) says why.
        if status >= 400 {
            return Err(refusal(status, &bytes));
        }
        let health: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| GatewayError::Decode(format!("its /health: {e}")))?;
        let address = health["address"]
            .as_str()
            .ok_or_else(|| GatewayError::Decode("its /health names no address".into()))?
            .to_string();
        Ok(self.audience.get_or_init(|| address).clone())
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<T, GatewayError> {
        let audience = self.audience().await?;
        let h = request_auth::sign(
            &self.key,
            &audience,
            method,
            path_and_query,
            &body,
            now_ms(),
        );
        let url = format!("{}{path_and_query}", self.base);
        let request = match method {
            "POST" => self.http.post(&url),
            _ => self.http.get(&url),
        };
        let response = h
            .attach(request)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| GatewayError::Unreachable {
                url: self.base.clone(),
                reason: ehr_transport::explain(&e),
            })?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GatewayError::Unreachable {
                url: self.base.clone(),
                reason: ehr_transport::explain(&e),
            })?;
        if status >= 400 {
            return Err(refusal(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| GatewayError::Decode(e.to_string()))
    }
}

/// A gateway's refusal: its code and sentence, or the start of whatever it
/// sent instead.
fn refusal(status: u16, bytes: &[u8]) -> GatewayError {
    let e: ApiError = serde_json::from_slice(bytes).unwrap_or(ApiError {
        code: "http_error".into(),
        message: String::from_utf8_lossy(bytes).chars().take(200).collect(),
    });
    GatewayError::Refused {
        status,
        code: e.code,
        message: e.message,
    }
}
