//! The gateway accepts a signed request once, within a minute of its clock,
//! from the key that signed exactly that request, addressed to this gateway.
//! Everything else gets 401
//! (or 400 for bad parameters) with a code and a sentence.

use ehr_client::read_path::api::ApiError;
use ehr_client::read_path::request_auth::{self, AuthHeaders};
use ehr_client::service::now_ms;
use ehr_testkit::stack::*;

fn get(s: &Stack, path: &str, h: Option<&AuthHeaders>) -> (u16, ApiError) {
    s.block_on(async {
        let mut r = ehr_transport::process()
            .http(std::time::Duration::from_secs(60))
            .get(format!("{}{path}", s.gateway.url));
        if let Some(h) = h {
            r = r
                .header("x-ehr-audience", &h.audience)
                .header("x-ehr-public-key", &h.public_key)
                .header("x-ehr-timestamp", &h.timestamp)
                .header("x-ehr-nonce", &h.nonce)
                .header("x-ehr-signature", &h.signature);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        let e = serde_json::from_slice(&body).unwrap_or(ApiError {
            code: String::new(),
            message: String::from_utf8_lossy(&body).into(),
        });
        (status, e)
    })
}

#[test]
fn replayed_stale_and_forged_requests_are_refused() {
    let s = Stack::start();
    s.alice_heart_rates(2);
    let doctor = &s.cast.doctor;
    // The audience: this gateway's address, which its /health names.
    let me = s.gateway_key.address().to_string();
    let path = format!(
        "/v1/patients/{}/records?category=vitals",
        s.cast.alice.address()
    );

    // A good request works once.
    let h = request_auth::sign(doctor, &me, "GET", &path, b"", now_ms());
    let (status, _) = get(&s, &path, Some(&h));
    assert_eq!(status, 200);
    // The same request again: replayed.
    let (status, e) = get(&s, &path, Some(&h));
    assert_eq!((status, e.code.as_str()), (401, "replayed"), "{e:?}");

    // Signed two minutes ago, or two minutes ahead: stale.
    for skew in [-120_000, 120_000] {
        let h = request_auth::sign(doctor, &me, "GET", &path, b"", now_ms() + skew);
        let (status, e) = get(&s, &path, Some(&h));
        assert_eq!((status, e.code.as_str()), (401, "stale_request"), "{e:?}");
        assert!(e.message.contains("check the clock"), "{}", e.message);
    }
    // Timestamps at the ends of the range (whose distance from now overflows):
    // stale too, never taken as fresh.
    for at in [i64::MIN, i64::MIN + 1, i64::MAX] {
        let h = request_auth::sign(doctor, &me, "GET", &path, b"", at);
        let (status, e) = get(&s, &path, Some(&h));
        assert_eq!(
            (status, e.code.as_str()),
            (401, "stale_request"),
            "{at}: {e:?}"
        );
    }
    // Times in the query that no calendar holds: a clear refusal.
    for bad in [
        "99999999999999-01-01T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-01T99:00:00Z",
        "-9223372036854775808-01-01T00:00:00Z",
    ] {
        let query = format!("{path}&from={bad}");
        let h = request_auth::sign(doctor, &me, "GET", &query, b"", now_ms());
        let (status, e) = get(&s, &query, Some(&h));
        assert_eq!((status, e.code.as_str()), (400, "bad_time"), "{bad}: {e:?}");
    }

    // Signed for another path (another patient), or with a tampered signature.
    let other = format!(
        "/v1/patients/{}/records?category=vitals",
        s.cast.bob.address()
    );
    let h = request_auth::sign(doctor, &me, "GET", &other, b"", now_ms());
    let (status, e) = get(&s, &path, Some(&h));
    assert_eq!((status, e.code.as_str()), (401, "bad_signature"));
    let mut h = request_auth::sign(doctor, &me, "GET", &path, b"", now_ms());
    h.public_key = hex::encode(s.nurse.public_key().to_bytes());
    let (status, e) = get(&s, &path, Some(&h));
    assert_eq!((status, e.code.as_str()), (401, "bad_signature"));

    // Signed for another hospital's gateway (its own nonce store): refused
    // here, so a request captured there cannot be replayed against this one.
    let north = key("gateway@north").address().to_string();
    let h = request_auth::sign(doctor, &north, "GET", &path, b"", now_ms());
    let (status, e) = get(&s, &path, Some(&h));
    assert_eq!((status, e.code.as_str()), (401, "wrong_audience"), "{e:?}");
    assert!(
        e.message.contains(&north) && e.message.contains(&me),
        "{}",
        e.message
    );
    // Re-addressed to this gateway after signing: the signature breaks.
    let mut h = request_auth::sign(doctor, &north, "GET", &path, b"", now_ms());
    h.audience = me.clone();
    let (status, e) = get(&s, &path, Some(&h));
    assert_eq!((status, e.code.as_str()), (401, "bad_signature"));

    // Unsigned, or with a malformed header.
    let (status, e) = get(&s, &path, None);
    assert_eq!((status, e.code.as_str()), (401, "unsigned"));
    assert!(e.message.contains("x-ehr-public-key"), "{}", e.message);
    let mut h = request_auth::sign(doctor, &me, "GET", &path, b"", now_ms());
    h.nonce = "not hex".into();
    let (status, e) = get(&s, &path, Some(&h));
    assert_eq!(
        (status, e.code.as_str()),
        (401, "malformed_signature_header")
    );

    // Bad parameters, properly signed: 400 with what to send instead.
    for (query, code) in [
        ("category=x-rays", "bad_category"),
        ("", "bad_category"),
        ("category=vitals&from=yesterday", "bad_time"),
        ("category=vitals&limit=0", "bad_parameter"),
        ("category=vitals&loinc=8867-4,DROP%20TABLE", "bad_parameter"),
        ("category=vitals&loinc=", "bad_parameter"),
        (
            "category=vitals&loinc=1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-1,11-1,12-1,13-1,14-1,15-1,16-1,17-1",
            "bad_parameter",
        ),
        ("category=vitals&purpose=curiosity", "bad_purpose"),
    ] {
        let p = format!("/v1/patients/{}/records?{query}", s.cast.alice.address());
        let h = request_auth::sign(doctor, &me, "GET", &p, b"", now_ms());
        let (status, e) = get(&s, &p, Some(&h));
        assert_eq!((status, e.code.as_str()), (400, code), "{query}: {e:?}");
    }
    let p = "/v1/patients/nobody/records?category=vitals";
    let h = request_auth::sign(doctor, &me, "GET", p, b"", now_ms());
    let (status, e) = get(&s, p, Some(&h));
    assert_eq!((status, e.code.as_str()), (400, "bad_patient"));

    // Only the one good request was disclosed.
    assert_eq!(s.db.count("SELECT count(*) FROM gateway.disclosures"), 1);
}
