//! The code directory reaches a running ingest service: a code the
//! consortium adds is accepted from its block, and a code it retires is
//! refused for readings measured since — with the proposal, its reason and
//! the replacement in the refusal — while a reading measured before and sent
//! late is still taken.

use std::time::Duration;

use ehr_client::readings::sign;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{
    action::Kind, governance_change::Kind as Change, AddCodes, CodeEntry, CodeSystem,
    GovernanceChange, Propose, RetireCode, Vote,
};
use ehr_testkit::stack::*;

/// `change` proposed by general's admin and approved by north's and
/// south's: three of four members.
fn decide(chain: &Chain, proposal: u64, change: Change) {
    chain.send(
        &key("admin@general"),
        Kind::Propose(Propose {
            change: Some(GovernanceChange { kind: Some(change) }),
        }),
    );
    for org in ["north", "south"] {
        let admin: SecretKey = key(&format!("admin@{org}"));
        chain.send(
            &admin,
            Kind::Vote(Vote {
                proposal_id: proposal,
                approve: true,
            }),
        );
    }
}

/// The reason and detail of the refusal of bob's reading `seq`.
fn refusal(c: &mut postgres::Client, seq: i64) -> (String, String) {
    let row = c
        .query_one(
            "SELECT reason, detail FROM ingest.rejects WHERE device_seq = $1",
            &[&seq],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn a_retired_code_is_refused_from_its_block_and_an_added_one_taken() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let broker = Broker::start();
    let db = database();
    // Chain answers kept for an hour: the decisions reach ingest by their
    // events (`code_changed`), not by a cache expiring.
    let _ingest = Ingest::start_caching(dir.path(), &broker, &db, &chain, &cast.ingest, 3600);

    // Arterial oxygen saturation is not in the directory yet.
    let arterial = |seq, measured_at_ms| ehr_ledger::proto::Reading {
        loinc: "2708-6".into(),
        measured_at_ms,
        ..spo2(seq, 96.0)
    };
    broker.publish(&[
        sign(&spo2(1, 97.0), &cast.spo2),
        sign(&arterial(2, now_ms() - 1000), &cast.spo2),
    ]);
    wait_for(
        "the first reading and a refusal",
        Duration::from_secs(120),
        || {
            db.count("SELECT count(*) FROM ingest.stored_records") == 1
                && db.count("SELECT count(*) FROM ingest.rejects") == 1
        },
    );
    let mut c = db.client().expect("the test database answers");
    let (reason, detail) = refusal(&mut c, 2);
    assert_eq!(reason, "unsupported_code");
    assert_eq!(
        detail,
        "LOINC 2708-6 is not in the consortium's code directory"
    );

    // The consortium adds it, then retires pulse oximetry's code for it.
    decide(
        &chain,
        1,
        Change::AddCodes(AddCodes {
            codes: vec![CodeEntry {
                system: CodeSystem::Loinc as i32,
                code: "2708-6".into(),
                display: "oxygen saturation in arterial blood".into(),
                unit: "%".into(),
                min: 50.0,
                max: 100.0,
            }],
        }),
    );
    let before_retirement = now_ms() - 500;
    std::thread::sleep(Duration::from_millis(1100));
    decide(
        &chain,
        2,
        Change::RetireCode(RetireCode {
            system: CodeSystem::Loinc as i32,
            code: "59408-5".into(),
            reason: "devices report arterial saturation".into(),
            replaced_by: "2708-6".into(),
        }),
    );
    std::thread::sleep(Duration::from_millis(1100));
    broker.publish(&[
        sign(&spo2(3, 97.0), &cast.spo2),
        sign(&arterial(4, now_ms()), &cast.spo2),
        // Measured before the retirement, sent late: still taken.
        sign(
            &ehr_ledger::proto::Reading {
                measured_at_ms: before_retirement,
                ..spo2(5, 98.0)
            },
            &cast.spo2,
        ),
    ]);
    wait_for(
        "the readings after the decisions",
        Duration::from_secs(120),
        || {
            db.count("SELECT count(*) FROM ingest.stored_records") == 3
                && db.count("SELECT count(*) FROM ingest.rejects") == 2
        },
    );
    let (reason, detail) = refusal(&mut c, 3);
    assert_eq!(reason, "retired_code");
    assert_eq!(
        detail,
        "LOINC 59408-5 (oxygen saturation (pulse oximetry)) was retired by proposal 2 (devices report arterial saturation); use 2708-6"
    );
    let stored: Vec<(i64, String)> = c
        .query(
            "SELECT device_seq, loinc FROM ingest.stored_records ORDER BY device_seq",
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        stored,
        vec![
            (1, "59408-5".to_string()),
            (4, "2708-6".to_string()),
            (5, "59408-5".to_string())
        ]
    );
}
