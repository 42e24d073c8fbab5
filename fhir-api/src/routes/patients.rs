//! `GET [base]/Patient/[id]`: the patient, known by their ledger address
//! (read on proof from the chain), named from their sealed demographics as
//! the clinician opens them through the gateway — a read the gateway refuses
//! to a clinician with no access to the patient, and logs on chain.

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ehr_client::read_path::demographics;
use ehr_client::read_path::open::ChainVerifier;
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{Participant, ParticipantKind};
use ehr_transport::Peer;

use super::Shared;
use crate::outcome::{resource, FhirError};
use crate::search::patient_id;

pub async fn read(
    State(api): Shared,
    peer: ConnectInfo<Peer>,
    headers: HeaderMap,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, FhirError> {
    let Path(id) = id.map_err(|e| {
        FhirError::invalid(
            "bad_patient",
            format!("the patient's id does not decode ({e}): it is their address, ehr1…"),
        )
    })?;
    let clinician = api.clinician(&peer, &headers)?;
    let patient = patient_id(&id)?;
    let mut view = api.chain.latest().await.map_err(FhirError::chain)?;
    let p: Option<Participant> = view
        .get(&keys::participant(&patient))
        .await
        .map_err(FhirError::chain)?;
    match p {
        Some(p) if p.kind == ParticipantKind::Patient as i32 => {
            let mut chain = ChainVerifier::over(api.chain.anchor().clone());
            let demographics = demographics::current(
                &clinician.gateway,
                &clinician.key,
                &patient,
                &mut chain,
                None,
            )
            .await?;
            Ok(resource(ehr_client::fhir::people::patient(
                &patient,
                demographics.as_ref(),
            )))
        }
        _ => Err(FhirError::not_found(
            "unknown_patient",
            format!("{patient} is not a patient registered on the chain"),
        )),
    }
}
