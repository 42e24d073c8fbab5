//! GET /v1/codes and /v1/codes/{system}/{code}: the consortium's code
//! directory for anyone — the portal's look-up before anyone logs in, a
//! patient reading what a code on her record means. Nothing is asked of the
//! caller: the directory is public (it holds no one's data), so the requests
//! are not signed, and are limited in rate per network address only
//! (`--lookups-per-address`, apart from the chain relay's limit). Each
//! code answered is proven against the app hash the validators signed;
//! a search cannot prove that no code was left out (docs/gateway.md).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ehr_client::codes;
use ehr_client::read_path::api::{CodeItem, CodeSearch};
use ehr_ledger::ledger::codes::{name, system_of};
use ehr_ledger::proto::CodeSystem;

use super::chain::{caller_ip, too_fast};
use super::{Params, Shared};
use crate::error::{ErrorCode, Failure};

/// Characters a search's text holds, at least and at most.
const TEXT_CHARS: std::ops::RangeInclusive<usize> = 2..=100;

fn bad(message: impl Into<String>) -> Response {
    Failure::new(ErrorCode::BadParameter, message).into_response()
}

fn system(slug: &str) -> Result<CodeSystem, Failure> {
    system_of(slug).ok_or_else(|| {
        let shown: String = slug.chars().take(40).collect();
        Failure::new(
            ErrorCode::BadParameter,
            format!("{shown:?} is not a code system of the directory: loinc, icd10 or snomed"),
        )
    })
}

/// `?text=…` (2 to 100 characters, in the code or its display, any case),
/// `&system=loinc|icd10|snomed` (all three when absent), `&retired=true` to
/// include retired codes.
pub(super) async fn search(
    State(g): Shared,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    axum::extract::Query(params): Params,
) -> Result<Json<CodeSearch>, Response> {
    // A search proves many codes: look-ups have a limit of their own,
    // apart from the relay's.
    g.lookup_limits.address(caller_ip(peer)).map_err(too_fast)?;
    // Counted as sent (the description's limit), then searched trimmed.
    let sent = params.get("text").map(String::as_str).unwrap_or_default();
    let text = sent.trim();
    if !TEXT_CHARS.contains(&sent.chars().count()) || !TEXT_CHARS.contains(&text.chars().count()) {
        return Err(bad(format!(
            "give text= of {} to {} characters to search the codes and their names for",
            TEXT_CHARS.start(),
            TEXT_CHARS.end()
        )));
    }
    let retired = match params.get("retired").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(bad("retired= is true or false")),
    };
    let systems = match params.get("system") {
        Some(s) => vec![system(s).map_err(IntoResponse::into_response)?],
        None => vec![CodeSystem::Loinc, CodeSystem::Icd10, CodeSystem::Snomed],
    };
    let mut found = Vec::new();
    for s in systems {
        let concepts = codes::search(&g.chain, s, text, retired)
            .await
            .map_err(|e| Failure::from(e).into_response())?;
        found.extend(concepts.iter().map(codes::item));
    }
    Ok(Json(CodeSearch { codes: found }))
}

/// One code, proven present or absent.
pub(super) async fn lookup(
    State(g): Shared,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path((system_slug, code)): Path<(String, String)>,
) -> Result<Json<CodeItem>, Response> {
    // A search proves many codes: look-ups have a limit of their own,
    // apart from the relay's.
    g.lookup_limits.address(caller_ip(peer)).map_err(too_fast)?;
    let system = system(&system_slug).map_err(IntoResponse::into_response)?;
    ehr_ledger::tx::validate::directory_code("code", system as i32, &code)
        .map_err(|r| bad(r.message))?;
    match codes::show(&g.chain, system, &code)
        .await
        .map_err(|e| Failure::from(e).into_response())?
    {
        Some(concept) => Ok(Json(codes::item(&concept))),
        None => Err(Failure::new(
            ErrorCode::UnknownCode,
            format!(
                "the consortium's directory has no {} code {code} (proven absent)",
                name(system)
            ),
        )
        .into_response()),
    }
}
