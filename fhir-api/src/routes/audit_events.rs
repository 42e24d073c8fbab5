//! `GET [base]/AuditEvent?patient=…`: the patient's audit trail, each entry
//! read from the chain with its state proof — for a clinician who may read
//! something of the patient's now (the ledger's own rule, run over proven
//! state), as the gateway's relay gives the trail to nobody else but the
//! patient and guardian.

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ehr_client::fhir::{self, Link};
use ehr_ledger::ledger::access::{decide, Decision};
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{AccessLevel, AuditEntry, Category, Counter};
use ehr_transport::Peer;

use super::Shared;
use crate::outcome::{resource, FhirError};
use crate::search::SearchParams;

pub async fn search(
    State(api): Shared,
    peer: ConnectInfo<Peer>,
    headers: HeaderMap,
    params: SearchParams,
) -> Result<Response, FhirError> {
    let clinician = api.clinician(&peer, &headers)?;
    let patient = params.patient()?;
    let count = params.count()? as u64;
    // Entries are numbered from 1; the cursor is the first of the page.
    let first = params.page()?.unwrap_or(1).max(1) as u64;
    let applied = params.applied(&["patient", "_count"]);

    let mut view = api.chain.latest().await.map_err(FhirError::chain)?;
    let reader = clinician.key.address();
    let now = view.block_time();
    // Whoever may read any category of the patient's may read who they are.
    let decided = view
        .run(|state| {
            decide(
                state,
                &reader,
                &patient,
                Category::Demographics,
                AccessLevel::Read,
                now,
            )
        })
        .await
        .map_err(FhirError::chain)?;
    match decided {
        Ok(Decision::Allowed { .. }) => {}
        Ok(Decision::Denied(r)) => {
            return Err(FhirError::forbidden(
                "access_denied",
                format!(
                    "the audit trail goes to those who may read the patient's records: {}",
                    r.message
                ),
            ))
        }
        Err(r) => return Err(FhirError::chain(r.message)),
    }
    let next: Counter = view
        .get(&keys::next_audit(&patient))
        .await
        .map_err(FhirError::chain)?
        .unwrap_or_default();
    let end = next.next.min(first.saturating_add(count));
    let mut events = Vec::new();
    for seq in first..end {
        let entry: Option<AuditEntry> = view
            .get(&keys::audit_entry(&patient, seq))
            .await
            .map_err(FhirError::chain)?;
        events.extend(entry.as_ref().map(fhir::audit_event));
    }
    let total = next.next.saturating_sub(1);
    let mut links = vec![Link {
        relation: "self",
        url: api.link("AuditEvent", &applied),
    }];
    if end < next.next {
        links.push(Link {
            relation: "next",
            url: api.link("AuditEvent", &format!("{applied}&_page={end}")),
        });
    }
    Ok(resource(fhir::searchset(
        &api.base,
        events,
        vec![],
        Some(total),
        links,
    )))
}
