//! An insider of the gateway's hospital edits its disclosure outbox: a real
//! read by the doctor copied as a read by the nurse, and as a read for
//! another purpose. The chain refuses both (code 39: not backed by the
//! reader's signed request); an honest read sent with them is logged all the
//! same (a refused row is sent alone from then on); the trail keeps only what
//! was asked, the gateway says why in its outbox — and, its log stuck, serves
//! nothing. Before that: a purpose that does not fit the reader's basis, and
//! a request the ledger would read otherwise than the gateway (a parameter
//! twice, percent-encoded), are refused before anything is served.

use std::time::Duration;

use ehr_client::read_path::client::RecordsQuery;
use ehr_ledger::proto::AuditKind;
use ehr_testkit::stack::*;

#[test]
fn a_read_forged_in_the_outbox_never_reaches_the_trail() {
    let s = Stack::start_with_audit_lag(5);
    s.alice_heart_rates(2);
    let alice = s.cast.alice.address();
    let vitals = RecordsQuery::category("vitals");

    // A purpose that does not fit the basis: refused before anything is served.
    let e = s
        .block_on(s.client(&s.cast.doctor).records(
            &alice,
            &RecordsQuery {
                purpose: Some("patient_request".into()),
                ..RecordsQuery::category("vitals")
            },
        ))
        .expect_err("the doctor is not the patient");
    assert_eq!(e.code(), Some("bad_purpose"), "{e}");
    assert!(e.to_string().contains("does not fit"), "{e}");

    // A request the ledger would read otherwise than the gateway: refused
    // before anything is served, nothing in the outbox.
    let rows = || s.db.count("SELECT count(*) FROM gateway.disclosures");
    let before_rows = rows();
    for query in ["category=labs&category=vitals", "category=%76itals"] {
        let (status, body) = raw_get(
            &s,
            &s.cast.doctor,
            &format!("/v1/patients/{alice}/records?{query}"),
        );
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains("cannot be logged"), "{query}: {body}");
    }
    assert_eq!(rows(), before_rows, "nothing served, nothing disclosed");

    // The doctor reads (treatment, under alice's grant): logged and proven.
    s.block_on(s.client(&s.cast.doctor).records(&alice, &vitals))
        .unwrap();
    s.disclosures_logged();
    let before = s.audit_trail(&s.cast.alice).items;
    let doctors = before
        .iter()
        .filter(|e| {
            e.kind == AuditKind::Disclosure as i32 && e.accessor == s.cast.doctor.address().0
        })
        .count();
    assert_eq!(doctors, 1);

    // The insider's edits: the doctor's read copied as the nurse's, and as a
    // read for payment.
    let mut db = s.db.client().unwrap();
    for (accessor, purpose) in [
        (s.nurse.address().to_string(), 1i16),
        (s.cast.doctor.address().to_string(), 4i16),
    ] {
        db.execute(
            "INSERT INTO gateway.disclosures (accessor, patient, category, purpose, record_ids, disclosed_at, request)
             SELECT $1, patient, category, $2, record_ids, extract(epoch FROM now())::bigint, request
             FROM gateway.disclosures WHERE accessor = $3 ORDER BY id LIMIT 1",
            &[&accessor, &purpose, &s.cast.doctor.address().to_string()],
        )
        .unwrap();
    }
    // An honest read right after, logged in the same round as the forgeries.
    s.block_on(s.client(&s.cast.doctor).records(&alice, &vitals))
        .unwrap();
    let honest_logged = wait_until(Duration::from_secs(30), || {
        s.audit_trail(&s.cast.alice)
            .items
            .iter()
            .filter(|e| e.accessor == s.cast.doctor.address().0)
            .count()
            == 2
    });
    assert!(
        honest_logged,
        "the honest read is logged despite the forged rows"
    );
    let refused = wait_until(Duration::from_secs(30), || {
        s.db.count(
            "SELECT count(*) FROM gateway.disclosures
             WHERE status = 'pending' AND last_error LIKE '%code 39%'",
        ) >= 1
    });
    assert!(refused, "the chain refuses the forged rows with code 39");
    let reason: String = db
        .query_one(
            "SELECT last_error FROM gateway.disclosures WHERE last_error LIKE '%code 39%' LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        reason.contains("not by a key of the accessor") || reason.contains("not payment"),
        "{reason}"
    );

    // Its log stuck, the gateway serves nothing, and says why.
    assert!(wait_until(Duration::from_secs(30), || s
        .block_on(s.client(&s.cast.doctor).records(&alice, &vitals))
        .is_err_and(|e| e.code() == Some("audit_unavailable"))));

    // The trail holds no read by the nurse and no read for payment; the
    // doctor's reads are all his own (the waits above read too).
    let after = s.audit_trail(&s.cast.alice).items;
    assert!(!after
        .iter()
        .any(|e| e.accessor == s.nurse.address().0.to_vec()));
    assert!(!after
        .iter()
        .any(|e| e.purpose == ehr_ledger::proto::Purpose::Payment as i32));
    assert!(after
        .iter()
        .filter(|e| e.kind == AuditKind::Disclosure as i32)
        .all(|e| e.accessor == s.cast.doctor.address().0 && e.request_sha256.len() == 32));
}

/// A GET signed by `who`, its path and query sent exactly as given.
fn raw_get(s: &Stack, who: &ehr_ledger::crypto::SecretKey, path_and_query: &str) -> (u16, String) {
    let url = s.gateway.url.clone();
    s.block_on(async {
        let http = ehr_transport::process().http(std::time::Duration::from_secs(60));
        let health: serde_json::Value = http
            .get(format!("{url}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let audience = health["address"].as_str().unwrap().to_string();
        let h = ehr_client::read_path::request_auth::sign(
            who,
            &audience,
            "GET",
            path_and_query,
            b"",
            now_ms(),
        );
        let r = h
            .attach(http.get(format!("{url}{path_and_query}")))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    })
}
