//! Bundles and OperationOutcomes.
//!
//! A `collection` (what the CLI prints) has no `total`: R4's bdl-1 allows it
//! only in a search or history. A `searchset` (what the API answers) has the
//! total, its `self` and `next` links, and each entry's search mode.

use serde_json::{json, Value};

fn type_and_id(r: &Value) -> (&str, &str) {
    (
        r["resourceType"].as_str().unwrap_or(""),
        r["id"].as_str().unwrap_or(""),
    )
}

/// A Bundle of type collection holding `resources`. Without a server to name
/// them, each entry's fullUrl is a URN made of its type and id.
/// A resource given twice (one Patient behind many Observations) is kept
/// once: R4's bdl-7 wants each fullUrl once.
pub fn collection(resources: Vec<Value>) -> Value {
    let mut seen = std::collections::HashSet::new();
    let entries: Vec<Value> = resources
        .into_iter()
        .filter_map(|r| {
            let (kind, id) = type_and_id(&r);
            let url = format!("urn:ehr-ledger:{kind}/{id}");
            seen.insert(url.clone())
                .then(|| json!({ "fullUrl": url, "resource": r }))
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}

/// A link of a search answer.
pub struct Link {
    pub relation: &'static str,
    pub url: String,
}

/// A searchset: the `matches` found (of `total`), resources `included` with
/// them, the page's links; entries' fullUrls are under `base`.
pub fn searchset(
    base: &str,
    matches: Vec<Value>,
    included: Vec<Value>,
    total: Option<u64>,
    links: Vec<Link>,
) -> Value {
    let entry = |r: Value, mode: &str| {
        let (kind, id) = type_and_id(&r);
        json!({ "fullUrl": format!("{base}/{kind}/{id}"), "resource": r, "search": { "mode": mode } })
    };
    let entries: Vec<Value> = matches
        .into_iter()
        .map(|r| entry(r, "match"))
        .chain(included.into_iter().map(|r| entry(r, "include")))
        .collect();
    let mut b = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links.iter().map(|l| json!({ "relation": l.relation, "url": l.url })).collect::<Vec<_>>(),
        "entry": entries
    });
    if let Some(t) = total {
        b["total"] = json!(t);
    }
    // R4 forbids empty arrays.
    for key in ["entry", "link"] {
        if b[key].as_array().is_some_and(|e| e.is_empty()) {
            b.as_object_mut().map(|o| o.remove(key));
        }
    }
    b
}

/// Adds an OperationOutcome to a searchset as an entry of search mode
/// `outcome`: what the server has to say about the search (records left out
/// because they did not verify).
pub fn add_outcome(bundle: &mut Value, outcome: Value) {
    let entry = json!({ "resource": outcome, "search": { "mode": "outcome" } });
    match bundle["entry"].as_array_mut() {
        Some(entries) => entries.push(entry),
        None => bundle["entry"] = json!([entry]),
    }
}

/// An OperationOutcome: one issue of `severity` with FHIR's issue type
/// `code`, the project's refusal code and its sentence.
pub fn operation_outcome(severity: &str, code: &str, refusal: &str, sentence: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": severity,
            "code": code,
            "details": {
                "coding": [{ "system": "urn:ehr-ledger:refusal", "code": refusal }],
                "text": sentence
            },
            "diagnostics": sentence
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collection_has_no_total_and_a_searchset_has_its_links() {
        let r = json!({ "resourceType": "Observation", "id": "hr-1-7" });
        let c = collection(vec![r.clone(), r.clone()]);
        assert!(c.get("total").is_none());
        assert_eq!(c["entry"].as_array().unwrap().len(), 1, "kept once");
        assert_eq!(
            c["entry"][0]["fullUrl"],
            "urn:ehr-ledger:Observation/hr-1-7"
        );
        let s = searchset(
            "https://h/fhir",
            vec![r],
            vec![],
            Some(9),
            vec![Link {
                relation: "next",
                url: "https://h/fhir/Observation?x".into(),
            }],
        );
        assert_eq!(s["total"], 9);
        assert_eq!(
            s["entry"][0]["fullUrl"],
            "https://h/fhir/Observation/hr-1-7"
        );
        assert_eq!(s["entry"][0]["search"]["mode"], "match");
        assert_eq!(s["link"][0]["relation"], "next");
        let empty = searchset("https://h/fhir", vec![], vec![], Some(0), vec![]);
        assert!(empty.get("entry").is_none());
    }
}
