//! Ingest wraps a reading's data key only for readers it can prove. On four
//! CometBFT validators, an ingest service whose node adds a grant to alice's
//! grant list — her vitals, to a doctor she never granted — wraps nothing for
//! that doctor: a list carries no proof, and the grant is not in the state
//! the validators signed. The doctor she did grant gets every key.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ehr_ledger::proto::{grantee, AccessLevel, Category, Grant, GrantList, Grantee};
use ehr_testkit::stack::*;
use prost::Message;
use serde_json::Value;

/// The stack's second doctor, whom alice never granted anything.
fn stranger() -> ehr_ledger::crypto::Address {
    key("doctor2@general").address()
}

/// Every patient's grant list answered with one more grant: vitals, read,
/// to the stranger, until the year 2100.
fn slips_in_a_grant(request: &Value, answer: &mut Value) {
    let is_grant_list = request
        .pointer("/params/path")
        .and_then(Value::as_str)
        .is_some_and(|p| p.starts_with("/grants/"));
    let Some(response) = answer.pointer_mut("/result/response") else {
        return;
    };
    if !is_grant_list {
        return;
    }
    let bytes = response["value"]
        .as_str()
        .and_then(|v| B64.decode(v).ok())
        .unwrap_or_default();
    let mut list = GrantList::decode(bytes.as_slice()).unwrap_or_default();
    let patient = list
        .items
        .first()
        .map(|g| g.patient.clone())
        .unwrap_or_default();
    list.items.push(Grant {
        patient,
        grantee: Some(Grantee {
            kind: Some(grantee::Kind::Clinician(stranger().0.to_vec())),
        }),
        category: Category::Vitals as i32,
        access: AccessLevel::Read as i32,
        expires_at: 4_102_444_800,
        ..Default::default()
    });
    response["code"] = Value::from(0);
    response["value"] = Value::from(B64.encode(list.encode_to_vec()));
}

/// The stack's chain, asked through a lying node.
struct Through<'a> {
    url: String,
    node: &'a Node,
}

impl Endpoint for Through<'_> {
    fn url(&self) -> &str {
        &self.url
    }

    fn trust_args(&self) -> Vec<std::ffi::OsString> {
        self.node.trust_args()
    }
}

#[test]
fn a_stranger_slipped_into_a_patients_grants_gets_no_key() {
    let mut s = Stack::start_on_cometbft();
    // One ingest service at a time: this one's node lies.
    s.ingest.kill_9();
    let liar = LyingNode::start(&s.node.url, honest, slips_in_a_grant);
    let dir = s.dir.path().join("lied-to");
    std::fs::create_dir_all(&dir).unwrap();
    let through = Through {
        url: liar.url.clone(),
        node: &s.node,
    };
    s.ingest = Ingest::start(&dir, &s.broker, &s.db, &through, &s.cast.ingest);
    let ids = s.alice_heart_rates(6);

    let wrapped_for = |reader: &ehr_ledger::crypto::Address| {
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.stored_records r JOIN ingest.wrapped_keys w USING (key_id)
             WHERE r.record_id IN ({}) AND w.reader = '{reader}'",
            ids.iter()
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    assert_eq!(
        wrapped_for(&stranger()),
        0,
        "no key for a grant without a proof"
    );
    assert_eq!(
        wrapped_for(&s.cast.doctor.address()),
        ids.len() as i64,
        "the granted doctor gets every key"
    );
}
