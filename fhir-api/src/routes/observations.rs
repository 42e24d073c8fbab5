//! `GET [base]/Observation?patient=…&code=…&date=…&_count=…`: the patient's
//! device readings, fetched through the gateway as the clinician (only the
//! codes asked for: nothing else is disclosed), opened and verified here.

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ehr_client::codes::Measurements;
use ehr_client::fhir::{self, observation::Record, Link};
use ehr_client::read_path::client::RecordsQuery;
use ehr_client::read_path::open::{ChainVerifier, Opened};
use ehr_client::read_path::verified::{check_record, CheckedRecord};

use ehr_transport::Peer;
use serde_json::Value;

use super::Shared;
use crate::outcome::{resource, FhirError};
use crate::search::SearchParams;

const APPLIED: &[&str] = &["patient", "code", "date", "_count"];

/// The LOINC codes readings may be stored under for a code a client asks
/// for: a blood-pressure panel is its two readings; oxygen saturation is
/// measured by pulse oximetry (or under its own code, should the consortium
/// add it); any other code as it is. Which of them are measurements is the
/// directory's to say (`search`). What is not a LOINC code matches nothing.
fn stored_codes(code: &str) -> Vec<String> {
    let codes: &[&str] = match code {
        "85354-9" => &["8480-6", "8462-4"],
        "2708-6" => &["59408-5", "2708-6"],
        other if ehr_ledger::tx::validate::loinc("code", other).is_ok() => &[other],
        _ => &[],
    };
    codes.iter().map(|c| c.to_string()).collect()
}

/// The most codes one search asks the gateway for (the gateway's own limit).
const MAX_CODES: usize = 16;

const SYSTOLIC: &str = "8480-6";
const DIASTOLIC: &str = "8462-4";
const BP_PANEL: &str = "85354-9";

fn has_code(o: &Value, codes: &[&str]) -> bool {
    o["code"]["coding"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| codes.iter().any(|x| c["code"] == *x)))
}

/// Why records were left out, one issue each, or nothing.
pub(super) fn left_out(problems: Vec<(String, String, &'static str)>) -> Option<Value> {
    if problems.is_empty() {
        return None;
    }
    let issues: Vec<Value> = problems
        .into_iter()
        .map(|(record, why, severity)| {
            serde_json::json!({
                "severity": severity,
                "code": if severity == "error" { "security" } else { "incomplete" },
                "diagnostics": format!("record {record} is left out: {why}"),
                "expression": [format!("Observation.identifier.where(value = '{record}')")]
            })
        })
        .collect();
    Some(serde_json::json!({ "resourceType": "OperationOutcome", "issue": issues }))
}

fn problem(c: &CheckedRecord) -> Option<(String, String, &'static str)> {
    let id = c.item.record_id.clone();
    if c.item.wrapped_key.is_none() {
        return Some((
            id,
            "no key to it is wrapped for this clinician: the patient shares readings written before a grant with the clinician it names (ehr rewrap, or the portal)".into(),
            "warning",
        ));
    }
    match (&c.problem, c.anchored_at) {
        (Some(p), _) => Some((id, format!("it did not verify ({p})"), "error")),
        (None, None) if c.awaiting_anchor => Some((
            id,
            "its batch is not anchored on chain yet; ask again in a few seconds".into(),
            "warning",
        )),
        (None, None) => Some((id, "it has no anchor".into(), "error")),
        (None, Some(_)) => None,
    }
}

pub async fn search(
    State(api): Shared,
    peer: ConnectInfo<Peer>,
    headers: HeaderMap,
    params: SearchParams,
) -> Result<Response, FhirError> {
    let clinician = api.clinician(&peer, &headers)?;
    let patient = params.patient()?;
    let codes = params.codes()?;
    let (from, to) = params.dates()?;
    let count = params.count()?;
    let page = params.page()?;
    let applied = params.applied(APPLIED);
    let self_link = Link {
        relation: "self",
        url: api.link("Observation", &applied),
    };

    let mut stored: Vec<String> = codes
        .iter()
        .flatten()
        .flat_map(|c| stored_codes(c))
        .collect();
    stored.sort();
    stored.dedup();
    // Only codes the directory proves are measurements are asked for: a
    // code of no reading costs the gateway no read, and the audit trail no
    // disclosure of nothing.
    let known = Measurements::proven(&api.chain, stored.iter().map(String::as_str))
        .await
        .map_err(FhirError::chain)?;
    stored.retain(|c| known.get(c).is_some());
    if stored.len() > MAX_CODES {
        return Err(FhirError::invalid(
            "too_many_codes",
            format!(
                "a search asks for at most {MAX_CODES} measurement codes; this one names {}: search in parts",
                stored.len()
            ),
        ));
    }
    if codes.is_some() && stored.is_empty() {
        // No reading is stored under any code asked for: nothing to fetch.
        return Ok(resource(fhir::searchset(
            &api.base,
            vec![],
            vec![],
            None,
            vec![self_link],
        )));
    }
    let answer = clinician
        .gateway
        .records(
            &patient,
            &RecordsQuery {
                category: "vitals".into(),
                from,
                to,
                after: page,
                limit: Some(count),
                loinc: stored,
                purpose: None,
            },
        )
        .await?;
    let mut chain = ChainVerifier::over(api.chain.anchor().clone());
    let mut checked = Vec::with_capacity(answer.records.len());
    for item in answer.records {
        checked.push(check_record(item, &clinician.key, &patient, &mut chain).await);
    }
    let verified: Vec<&Opened> = checked.iter().filter_map(CheckedRecord::verified).collect();
    let records: Vec<Record> = verified
        .iter()
        .map(|o| Record {
            record_id: &o.record_id,
            reading: &o.reading,
        })
        .collect();
    // What each code is called, from the consortium's directory (proven):
    // asked for by code, the page holds only codes proven above.
    let names = if codes.is_some() {
        known
    } else {
        Measurements::proven(&api.chain, records.iter().map(|r| r.reading.loinc.as_str()))
            .await
            .map_err(|e| {
                FhirError::chain(format!("naming the readings from the code directory: {e}"))
            })?
    };
    // A reading whose code the directory does not hold as a measurement is
    // not exported; the client is told which.
    let unnamed: Vec<(String, String, &'static str)> = records
        .iter()
        .filter(|r| names.get(&r.reading.loinc).is_none())
        .map(|r| {
            (
                r.record_id.to_string(),
                format!(
                    "LOINC {} is no measurement of the consortium's code directory",
                    r.reading.loinc
                ),
                "warning",
            )
        })
        .collect();
    let asked: Vec<&str> = codes.iter().flatten().map(String::as_str).collect();
    let panels = asked.contains(&BP_PANEL);
    let halves = asked.contains(&SYSTOLIC) || asked.contains(&DIASTOLIC);
    // Asked for the readings of a cuff, a client gets them as they are; asked
    // for panels, it gets the halves that found no partner on this page too.
    let mut observations = if halves && !panels {
        records
            .iter()
            .filter_map(|r| fhir::observation::observation(r, &patient, &names))
            .collect()
    } else {
        fhir::observations(&records, &patient, &names)
    };
    if codes.is_some() {
        observations
            .retain(|o| has_code(o, &asked) || (panels && has_code(o, &[SYSTOLIC, DIASTOLIC])));
    }
    let mut links = vec![self_link];
    if let Some(next) = answer.next_after {
        let sep = if applied.is_empty() { "" } else { "&" };
        links.push(Link {
            relation: "next",
            url: api.link("Observation", &format!("{applied}{sep}_page={next}")),
        });
    }
    let mut bundle = fhir::searchset(&api.base, observations, vec![], None, links);
    let mut problems: Vec<_> = checked.iter().filter_map(problem).collect();
    problems.extend(unnamed);
    if let Some(outcome) = left_out(problems) {
        fhir::add_outcome(&mut bundle, outcome);
    }
    tracing::info!(clinician = %clinician.name, %patient, served = verified.len(), "observations read");
    Ok(resource(bundle))
}
