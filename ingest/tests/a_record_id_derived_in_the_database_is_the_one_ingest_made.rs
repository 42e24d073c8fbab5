//! Stored readings keep no record id (migration 017): the database derives
//! it from the device and sequence (`ingest.record_id`) by ingest's own rule
//! (`ehr_ingest::pipeline::record_id`) — a record id is bound in each
//! ciphertext, so the two must agree on every id, short or hashed.

use ehr_ingest::pipeline::record_id;
use ehr_testkit::stack::database;

#[test]
fn a_record_id_derived_in_the_database_is_the_one_ingest_made() {
    let db = database();
    let mut owner = db.client().unwrap();
    let long = "d".repeat(70);
    let edge = "e".repeat(63 - "9".len());
    let cases = [
        ("hr-1", 1i64),
        ("spo2-1", 9_007_199_254_740_993),
        ("капнограф-7", 42), // a device id of several bytes a character
        (edge.as_str(), 9),  // 64 bytes: still spelled out
        (edge.as_str(), 10), // 65 bytes: hashed
        (long.as_str(), 0),
    ];
    for (device, seq) in cases {
        let derived: String = owner
            .query_one("SELECT ingest.record_id($1, $2)", &[&device, &seq])
            .unwrap()
            .get(0);
        assert_eq!(derived, record_id(device, seq as u64), "{device}:{seq}");
    }
    assert!(record_id(&edge, 10).starts_with("h:"));
    assert!(!record_id(&edge, 9).starts_with("h:"));
}
