//! `GET [base]/MedicationRequest?patient=…` and `ServiceRequest?patient=…`:
//! the sealed prescriptions and lab orders, fetched through the gateway as
//! the clinician, opened and checked against their anchors here.

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ehr_client::fhir::{self, Link};
use ehr_client::read_path::documents::Content;
use ehr_client::read_path::open::ChainVerifier;
use ehr_client::read_path::verified::check_document;
use ehr_transport::Peer;

use super::observations::left_out;
use super::Shared;
use crate::outcome::{resource, FhirError};
use crate::search::SearchParams;

async fn search(
    api: &super::Api,
    peer: &ConnectInfo<Peer>,
    headers: &HeaderMap,
    params: SearchParams,
    kind: &str,
    category: &str,
) -> Result<Response, FhirError> {
    let clinician = api.clinician(peer, headers)?;
    let patient = params.patient()?;
    let page = params.page()?;
    let applied = params.applied(&["patient"]);
    let answer = clinician
        .gateway
        .documents(&patient, category, page)
        .await?;
    let mut chain = ChainVerifier::over(api.chain.anchor().clone());
    let (mut matches, mut problems) = (Vec::new(), Vec::new());
    for item in answer.documents {
        let c = check_document(item, &clinician.key, &patient, &mut chain).await;
        match (c.verified(), c.problem()) {
            (Some(doc), _) => {
                // Labs hold orders and results; only orders are ServiceRequests.
                let wanted = matches!(
                    (&doc.content, kind),
                    (Content::Prescription { .. }, "MedicationRequest")
                        | (Content::LabOrder { .. }, "ServiceRequest")
                );
                if wanted {
                    matches.extend(fhir::requests::request(
                        &c.item.record_id,
                        &c.item.author,
                        doc,
                        &patient,
                        &c.links,
                    ));
                }
            }
            (None, p) => problems.push((
                c.item.record_id.clone(),
                format!("it did not verify ({})", p.cloned().unwrap_or_default()),
                "error",
            )),
        }
    }
    let mut links = vec![Link {
        relation: "self",
        url: api.link(kind, &applied),
    }];
    if let Some(next) = answer.next_after {
        links.push(Link {
            relation: "next",
            url: api.link(kind, &format!("{applied}&_page={next}")),
        });
    }
    let mut bundle = fhir::searchset(&api.base, matches, vec![], None, links);
    if let Some(outcome) = left_out(problems) {
        fhir::add_outcome(&mut bundle, outcome);
    }
    Ok(resource(bundle))
}

pub async fn medication_requests(
    State(api): Shared,
    peer: ConnectInfo<Peer>,
    headers: HeaderMap,
    params: SearchParams,
) -> Result<Response, FhirError> {
    search(
        &api,
        &peer,
        &headers,
        params,
        "MedicationRequest",
        "medications",
    )
    .await
}

pub async fn service_requests(
    State(api): Shared,
    peer: ConnectInfo<Peer>,
    headers: HeaderMap,
    params: SearchParams,
) -> Result<Response, FhirError> {
    search(&api, &peer, &headers, params, "ServiceRequest", "labs").await
}
