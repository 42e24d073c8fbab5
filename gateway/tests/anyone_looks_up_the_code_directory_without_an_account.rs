//! The consortium's code directory through the gateway, for anyone: no
//! signature, no account. A code is answered proven present or absent; a
//! search answers the codes whose code or name holds the text; bad
//! parameters get 400 with what to send; too many look-ups from one address
//! wait (429), as the chain relay's callers do.

use ehr_client::read_path::api::{CodeItem, CodeSearch};
use ehr_testkit::stack::*;
use serde_json::Value;

fn get(url: &str, runtime: &tokio::runtime::Runtime, path: &str) -> (u16, Value) {
    runtime.block_on(async {
        let resp = ehr_transport::process()
            .http(std::time::Duration::from_secs(60))
            .get(format!("{url}{path}"))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    })
}

#[test]
fn anyone_looks_up_a_code_or_searches_the_directory_without_an_account() {
    let s = Stack::start();
    let get = |path: &str| get(&s.gateway.url, &s.runtime, path);

    let (status, body) = get("/v1/codes/loinc/8867-4");
    assert_eq!(status, 200, "{body}");
    let heart: CodeItem = serde_json::from_value(body).unwrap();
    assert_eq!(
        (
            heart.display.as_str(),
            heart.unit.as_deref(),
            heart.min,
            heart.max
        ),
        ("heart rate", Some("/min"), Some(20.0), Some(300.0))
    );
    assert_eq!((heart.status.as_str(), heart.added_by), ("active", 0));
    let (status, body) = get("/v1/codes/icd10/I10");
    assert_eq!(status, 200, "{body}");
    let diagnosis: CodeItem = serde_json::from_value(body).unwrap();
    assert_eq!(diagnosis.unit, None, "a diagnosis has no unit");

    // A search: every code answered holds the text, and the seed's heart
    // rate is among them; one system, or all three.
    let (status, body) = get("/v1/codes?text=HEART");
    assert_eq!(status, 200, "{body}");
    let found: CodeSearch = serde_json::from_value(body).unwrap();
    assert!(found.codes.iter().any(|c| c.code == "8867-4"), "{found:?}");
    assert!(found
        .codes
        .iter()
        .all(|c| c.display.to_lowercase().contains("heart") || c.code.contains("heart")));
    let (_, body) = get("/v1/codes?text=pressure&system=loinc");
    let found: CodeSearch = serde_json::from_value(body).unwrap();
    assert!(!found.codes.is_empty());
    assert!(found.codes.iter().all(|c| c.system == "loinc"), "{found:?}");
    let (status, body) = get("/v1/codes?text=zzzz-nothing");
    assert_eq!(
        (status, body["codes"].as_array().map(Vec::len)),
        (200, Some(0))
    );

    // Absent, proven so; and what is not a code or a system.
    let (status, body) = get("/v1/codes/loinc/1234-4");
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_code")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("proven absent"),
        "{body}"
    );
    for (path, says) in [
        ("/v1/codes/cpt/99213", "not a code system"),
        ("/v1/codes/loinc/heart%20rate", "code"),
        ("/v1/codes?text=a", "2 to 100 characters"),
        ("/v1/codes", "2 to 100 characters"),
        ("/v1/codes?text=heart&system=cpt", "not a code system"),
        ("/v1/codes?text=heart&retired=maybe", "true or false"),
    ] {
        let (status, body) = get(path);
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("bad_parameter")),
            "{path}: {body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
    }
    assert!(!s.log("gateway.log").contains("panicked"));
}

#[test]
fn too_many_look_ups_from_one_address_wait() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let db = database();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    std::fs::create_dir_all(dir.path().join("gateway")).unwrap();
    let gateway = GatewayProcess::start_with(
        &dir.path().join("gateway"),
        &db,
        &node,
        &key("gateway@general"),
        &[
            "--lookups-per-address",
            "1",
            "--lookup-burst-per-address",
            "3",
        ],
    );
    let answers: Vec<(u16, Value)> = (0..6)
        .map(|_| get(&gateway.url, &runtime, "/v1/codes/loinc/8867-4"))
        .collect();
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(&statuses[..3], &[200, 200, 200], "{answers:?}");
    let (_, waited) = answers
        .iter()
        .find(|(s, _)| *s == 429)
        .unwrap_or_else(|| panic!("no look-up waited: {answers:?}"));
    assert_eq!(waited["code"], "rate_limited");
    assert!(waited["message"]
        .as_str()
        .unwrap()
        .contains("this network address"));
}
