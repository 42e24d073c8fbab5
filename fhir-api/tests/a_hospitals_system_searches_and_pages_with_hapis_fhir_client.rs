//! A hospital's system reaches the records through the FHIR API with a FHIR
//! client nobody here wrote — HAPI FHIR's generic client, over mutual TLS —
//! on four CometBFT validators: it reads the CapabilityStatement and the
//! Patient (named from her sealed demographics), searches alice's heart rates ten at a time following every
//! `next` link, and reads her audit trail, prescriptions and lab orders;
//! HAPI's validator finds no error in any response. Every read is logged on
//! chain under the clinician the caller acts for. A record altered in
//! storage is never answered as data; refusals are OperationOutcomes with
//! the gateway's sentence; callers are known by their certificates.

use ehr_testkit::stack::*;
use serde_json::Value;

const FHIR_JSON: &str = "application/fhir+json";

fn get(http: &reqwest::Client, s: &Stack, url: &str, on_behalf_of: Option<&str>) -> (u16, Value) {
    s.block_on(async {
        let mut req = http.get(url).header("accept", FHIR_JSON);
        if let Some(who) = on_behalf_of {
            req = req.header("x-on-behalf-of", who);
        }
        let resp = req.send().await.expect("the API answers");
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(kind.starts_with(FHIR_JSON), "content type {kind}");
        (status, resp.json().await.expect("JSON"))
    })
}

fn refusal(body: &Value) -> (&str, &str) {
    assert_eq!(body["resourceType"], "OperationOutcome", "{body:#}");
    let issue = &body["issue"][0];
    (
        issue["details"]["coding"][0]["code"].as_str().unwrap_or(""),
        issue["diagnostics"].as_str().unwrap_or(""),
    )
}

fn ok_tx(s: &Stack, from: &str, args: &[&str]) {
    let mut all = vec!["tx", "--from", from];
    all.extend_from_slice(args);
    let out = s.ehr(&all);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
}

#[test]
fn a_hospitals_system_searches_and_pages_with_hapis_fhir_client() {
    let s = Stack::start_on_cometbft();
    let alice = s.cast.alice.address().to_string();
    s.alice_heart_rates(25);
    // Alice lets her doctor prescribe and order labs; he does both.
    for category in ["medications", "labs"] {
        ok_tx(
            &s,
            "alice",
            &[
                "grant",
                "--patient",
                "alice",
                "--clinician",
                "doctor",
                "--category",
                category,
                "--access",
                "write",
                "--expires-in",
                "1d",
            ],
        );
    }
    ok_tx(
        &s,
        "doctor",
        &[
            "prescribe",
            "--patient",
            "alice",
            "--drug",
            "197361",
            "--dose",
            "5",
            "--unit",
            "mg",
            "--quantity",
            "30",
            "--refills",
            "1",
        ],
    );
    ok_tx(
        &s,
        "doctor",
        &[
            "order-lab",
            "--patient",
            "alice",
            "--test",
            "2345-7",
            "--lab",
            "general",
        ],
    );

    // Her hospital's front desk sealed who she is.
    s.import_key("admin", &s.cast.admin);
    ok_tx(
        &s,
        "admin",
        &[
            "demographics",
            "--patient",
            "alice",
            "--given",
            "Alice",
            "--family",
            "Martin",
            "--birth-date",
            "1984-03-07",
            "--mrn",
            "general=G-00042",
        ],
    );

    // A read of his before (her prescriptions, not the vitals checked
    // below), on chain by now: the trail the client searches holds at least
    // that (its own reads are logged in the gateway's next batches, which
    // may come after its search).
    s.block_on(
        s.client(&s.cast.doctor)
            .documents(&s.cast.alice.address(), "medications", None),
    )
    .expect("the doctor reads her prescriptions");
    s.disclosures_logged();

    let mut api = FhirProcess::start(&s, &["ward-system=doctor", "two-doctors=doctor,doctor2"]);
    let (ward, http) = caller("ward-system");

    // HAPI FHIR's generic client, over mutual TLS, as the ward's system.
    let out = s.dir.path().join("hapi-responses");
    let summary = ehr_testkit::fhir::client(&ehr_testkit::fhir::ClientRun {
        base: &api.base,
        ca: &ehr_testkit::pki::for_tests().ca_file,
        cert: &ward.certificate,
        key: &ward.key,
        patient: &alice,
        code: "8867-4",
        count: 10,
        out: &out,
    })
    .expect("HAPI's client runs");
    eprintln!("{summary:#}");
    assert_eq!(
        summary["invalid"],
        serde_json::json!([]),
        "every response passes HAPI's validator"
    );
    assert_eq!(summary["fhir_version"], "4.0.1");
    assert_eq!(summary["patient"], alice);
    assert_eq!(summary["patient_name"], "Alice Martin");
    assert_eq!(summary["pages"], 3, "25 readings, 10 a page");
    assert_eq!(summary["observations"], 25);
    let ids: Vec<&str> = summary["observation_ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let expected: Vec<String> = (1..=25).map(|i| format!("hr-1-{i}")).collect();
    assert_eq!(
        ids, expected,
        "each reading once, in order, across the pages"
    );
    assert_eq!(summary["medication_requests"], 1);
    assert_eq!(summary["service_requests"], 1);
    assert!(summary["audit_events"].as_u64().unwrap() >= 1);

    // Every read is on chain under the doctor the ward's system acts for.
    s.disclosures_logged();
    let trail = s.audit_trail(&s.cast.alice);
    let by_doctor: Vec<String> = trail
        .items
        .iter()
        .filter(|e| e.accessor == s.cast.doctor.address().0.to_vec())
        .flat_map(|e| e.record_ids.clone())
        .collect();
    for i in 1..=25 {
        assert!(
            by_doctor.contains(&format!("hr-1:{i}")),
            "hr-1:{i} read without an audit entry"
        );
    }

    let search = |q: &str| format!("{}/Observation?{q}", api.base);
    // A record altered in storage is left out, and said why.
    let mut db = s.db.client().expect("the test database answers");
    db.execute(
        "UPDATE ingest.records SET ciphertext = set_byte(ciphertext, 19, get_byte(ciphertext, 19) # 255)
         WHERE record_seq IN (SELECT record_seq FROM ingest.stored_records WHERE record_id = 'hr-1:7')",
        &[],
    )
    .unwrap();
    let (status, page) = get(
        &http,
        &s,
        &search(&format!("patient={alice}&_count=100")),
        None,
    );
    assert_eq!(status, 200);
    let entries = page["entry"].as_array().unwrap();
    let served: Vec<&str> = entries
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(served.len(), 24);
    assert!(
        !served.contains(&"hr-1-7"),
        "an altered record served as data"
    );
    let outcome = entries
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("an OperationOutcome names what was left out");
    let said = outcome["resource"]["issue"][0]["diagnostics"]
        .as_str()
        .unwrap();
    assert!(
        said.contains("hr-1:7") && said.contains("did not verify"),
        "{said}"
    );

    // Dates and codes narrow the search; a code nobody stores finds nothing.
    let (_, none) = get(
        &http,
        &s,
        &search(&format!("patient={alice}&date=lt2000-01-01")),
        None,
    );
    assert!(none.get("entry").is_none(), "{none:#}");
    let (_, none) = get(
        &http,
        &s,
        &search(&format!("patient={alice}&code=85354-9")),
        None,
    );
    assert!(none.get("entry").is_none(), "{none:#}");

    // The code directory, looked up as FHIR asks (proven; no clinician named).
    let lookup = |q: &str| format!("{}/CodeSystem/$lookup?{q}", api.base);
    let (status, body) = get(
        &http,
        &s,
        &lookup("system=http://loinc.org&code=8867-4"),
        None,
    );
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["resourceType"], "Parameters");
    assert_eq!(body["parameter"][1]["valueString"], "heart rate");
    let (status, body) = get(
        &http,
        &s,
        &lookup("system=http://loinc.org&code=1234-4"),
        None,
    );
    assert_eq!((status, refusal(&body).0), (404, "unknown_code"));
    assert!(refusal(&body).1.contains("proven absent"), "{body:#}");
    let (status, body) = get(&http, &s, &lookup("system=http://example.org&code=1"), None);
    assert_eq!((status, refusal(&body).0), (400, "unknown_system"));
    let (status, body) = get(&http, &s, &lookup("code=8867-4"), None);
    assert_eq!((status, refusal(&body).0), (400, "bad_lookup"));
    let (status, body) = get(
        &http,
        &s,
        &lookup("system=http://loinc.org&code=heart%20rate"),
        None,
    );
    assert_eq!((status, refusal(&body).0), (400, "bad_code"));

    // Refusals, as OperationOutcomes a person can act on.
    let (status, body) = get(&http, &s, &search("code=8867-4"), None);
    assert_eq!((status, refusal(&body).0), (400, "patient_required"));
    let (status, body) = get(
        &http,
        &s,
        &search(&format!("patient={alice}&date=ge24/11/2026")),
        None,
    );
    assert_eq!((status, refusal(&body).0), (400, "bad_date"));
    // Bob never granted the doctor: the gateway's refusal, in its words.
    let bob = s.cast.bob.address().to_string();
    let (status, body) = get(&http, &s, &search(&format!("patient={bob}")), None);
    assert_eq!(status, 403, "{body:#}");
    let (code, sentence) = refusal(&body);
    assert!(
        !code.is_empty() && sentence.contains("grant"),
        "{code}: {sentence}"
    );
    // The ward's certificate may not act for doctor2.
    let (status, body) = get(
        &http,
        &s,
        &search(&format!("patient={alice}")),
        Some("doctor2"),
    );
    assert_eq!((status, refusal(&body).0), (403, "not_your_clinician"));
    // A certificate for two doctors must say which.
    let (_, two) = caller("two-doctors");
    let (status, body) = get(&two, &s, &search(&format!("patient={alice}")), None);
    assert_eq!((status, refusal(&body).0), (400, "on_behalf_of_missing"));
    let (status, _) = get(
        &two,
        &s,
        &search(&format!("patient={alice}")),
        Some("doctor"),
    );
    assert_eq!(status, 200);
    // The audit trail goes only to a clinician who may read the patient's records.
    let trail = format!("{}/AuditEvent?patient={alice}", api.base);
    let (status, body) = get(&two, &s, &trail, Some("doctor2"));
    assert_eq!((status, refusal(&body).0), (403, "access_denied"));
    let (status, _) = get(&two, &s, &trail, Some("doctor"));
    assert_eq!(status, 200);
    // A date that is not one, with bytes a careless parser trips on.
    let (status, body) = get(
        &http,
        &s,
        &search(&format!("patient={alice}&date=gex%C3%A912345")),
        None,
    );
    assert_eq!((status, refusal(&body).0), (400, "bad_date"));
    // Writes are not what this API does.
    let (status, body) = s.block_on(async {
        let r = http
            .post(search(""))
            .header("content-type", FHIR_JSON)
            .body("{}")
            .send()
            .await
            .expect("the API answers");
        (r.status().as_u16(), r.json::<Value>().await.expect("JSON"))
    });
    assert_eq!((status, refusal(&body).0), (405, "read_only"));
    // A certificate of the authority the configuration does not name.
    let (_, stranger) = caller("somebody-else");
    let (status, body) = get(&stranger, &s, &search(&format!("patient={alice}")), None);
    assert_eq!((status, refusal(&body).0), (403, "unknown_caller"));
    // No certificate at all: the handshake is refused.
    let bare = ehr_testkit::pki::for_tests()
        .client()
        .http(std::time::Duration::from_secs(10));
    let url = search(&format!("patient={alice}"));
    assert!(s.block_on(async { bare.get(url).send().await }).is_err());
    // An interaction the API does not have.
    let (status, body) = get(
        &http,
        &s,
        &format!("{}/Encounter?patient={alice}", api.base),
        None,
    );
    assert_eq!((status, refusal(&body).0), (404, "not_supported"));
    assert!(api.is_running());
}
