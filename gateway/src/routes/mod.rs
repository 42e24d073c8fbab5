//! The HTTP surface (docs/gateway.openapi.yaml): thin handlers over `auth`,
//! `access`, `store`, `proofs` and `disclosures`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::disclosures::{self};
use crate::error::Failure;
use crate::Gateway;

mod chain;
mod codes;
mod documents;
mod keys;
mod params;
mod records;
mod recovery;
mod signed;

use documents::{documents, put_document};
use keys::{own_keys, upload_wraps};
use params::*;
use records::{disclose, key_for_caller, records};
use recovery::recovered_keys;
use signed::{SignedRead, SignedWrite};

pub(crate) type Shared = State<Arc<Gateway>>;
pub use chain::{MAX_CALL_BYTES, RELAYED};

pub(crate) type Params = Query<HashMap<String, String>>;

/// The API, and the web portal's files under `/portal/` when `portal` (its
/// built folder) is given: the page and the API it signs requests for share
/// one origin, so the browser needs no cross-origin permission.
pub fn router(gateway: Arc<Gateway>, portal: Option<&std::path::Path>) -> Router {
    let api = api(gateway);
    let app = match portal {
        // The page's assets are addressed absolutely (Vite's base "/portal/").
        Some(dir) => api.nest_service(
            "/portal",
            tower_http::services::ServeDir::new(dir).append_index_html_on_directories(true),
        ),
        None => api,
    };
    with_security_headers(app)
}

/// The page holds a patient's key: it runs only its own scripts and styles,
/// talks only to this origin, is never framed (no clickjacking of a grant),
/// is never sniffed into another type, and sends no referrer. Answers of the
/// API carry the same headers.
const SECURITY_HEADERS: [(&str, &str); 3] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

fn with_security_headers(mut app: Router) -> Router {
    use axum::http::{HeaderName, HeaderValue};
    for (name, value) in SECURITY_HEADERS {
        app = app.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    app
}

fn api(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/chain", post(chain::relay))
        .route("/v1/codes", get(codes::search))
        .route("/v1/codes/{system}/{code}", get(codes::lookup))
        .route("/v1/patients/{patient}/records", get(records))
        .route(
            "/v1/patients/{patient}/wrapped-keys",
            get(own_keys).post(upload_wraps),
        )
        .route("/v1/patients/{patient}/recovered-keys", get(recovered_keys))
        .route(
            "/v1/patients/{patient}/documents",
            get(documents).post(put_document),
        )
        .with_state(gateway)
}

async fn health(State(g): Shared) -> Result<Json<serde_json::Value>, Failure> {
    let db = g.db.get().await?;
    let (pending, committed) = disclosures::counts(&db).await?;
    Ok(Json(json!({
        "status": "ok",
        // The audience requests to this gateway are signed for.
        "address": g.key.address().to_string(),
        // Whether the portal accepts the demonstration's log-in links.
        "demo_logins": g.demo_logins,
        "disclosures_pending": pending,
        "disclosures_committed": committed,
    })))
}
