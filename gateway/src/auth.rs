//! Signed requests (`ehr_client::read_path::request_auth`) checked, and their
//! nonces remembered in PostgreSQL so that a captured request cannot be
//! replayed — not even against another gateway sharing the database.

use std::time::Duration;

use axum::http::{HeaderMap, Method, Uri};
use ehr_client::read_path::request_auth::{
    self, AuthError, AuthHeaders, Caller, HEADER_AUDIENCE, HEADER_NONCE, HEADER_PUBLIC_KEY,
    HEADER_SIGNATURE, HEADER_TIMESTAMP, WINDOW_MS,
};
use ehr_client::service::now_ms;

use crate::error::{ErrorCode, Failure};
use crate::Gateway;

fn header(headers: &HeaderMap, name: &'static str) -> Result<String, AuthError> {
    headers
        .get(name)
        .ok_or(AuthError::Missing(name))?
        .to_str()
        .map(str::to_string)
        .map_err(|_| AuthError::Malformed(name))
}

fn refusal(e: AuthError) -> Failure {
    let code = match e {
        AuthError::Missing(_) => ErrorCode::Unsigned,
        AuthError::Malformed(_) => ErrorCode::MalformedSignatureHeader,
        AuthError::Stale(_) => ErrorCode::StaleRequest,
        AuthError::BadSignature => ErrorCode::BadSignature,
        AuthError::WrongAudience { .. } => ErrorCode::WrongAudience,
    };
    Failure::new(code, e.to_string())
}

/// The verified caller of a request, its nonce now spent.
pub async fn authenticate(
    g: &Gateway,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, Failure> {
    let h = (|| {
        // Fields in the order a caller most likely forgot them.
        Ok(AuthHeaders {
            public_key: header(headers, HEADER_PUBLIC_KEY)?,
            timestamp: header(headers, HEADER_TIMESTAMP)?,
            nonce: header(headers, HEADER_NONCE)?,
            signature: header(headers, HEADER_SIGNATURE)?,
            audience: header(headers, HEADER_AUDIENCE)?,
        })
    })()
    .map_err(refusal)?;
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let me = g.key.address().to_string();
    let mut caller = request_auth::verify(&h, &me, method.as_str(), path_and_query, body, now_ms())
        .map_err(refusal)?;
    let db = g.db.get().await?;
    let fresh = db
        .execute(
            "INSERT INTO gateway.nonces (nonce, caller) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
            &[&caller.nonce, &caller.address.to_string()],
        )
        .await?;
    if fresh == 0 {
        return Err(Failure::new(
            ErrorCode::Replayed,
            "this signed request was already used: each request is accepted once; sign a new one",
        ));
    }
    // From here the caller is the person the key signs for: a rotated key
    // reads what its person may, a replaced one nothing.
    caller.address = crate::identity::signs_for(&g.chain, &caller.public_key).await?;
    Ok(caller)
}

/// Forgets nonces once their requests are outside the timestamp window (with
/// margin): such requests are refused as stale anyway.
pub async fn prune_nonces(g: &Gateway) {
    let keep = Duration::from_millis(3 * WINDOW_MS as u64);
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let pruned = match g.db.get().await {
            Ok(db) => db
                .execute(
                    "DELETE FROM gateway.nonces WHERE seen_at < now() - make_interval(secs => $1)",
                    &[&keep.as_secs_f64()],
                )
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = pruned {
            tracing::warn!(error = %e, "could not prune old request nonces");
        }
        g.relay_limits.forget_quiet();
        g.lookup_limits.forget_quiet();
    }
}
