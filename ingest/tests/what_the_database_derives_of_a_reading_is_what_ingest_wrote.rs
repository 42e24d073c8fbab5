//! Stored readings keep no record id and, in batches with a tree, no leaf
//! (migration 017): the database derives them — for people and tools
//! (`ingest.stored_records`) and for the way back to the old layout — and
//! must derive exactly what ingest wrote. The record id from the device and
//! sequence (`ingest.record_id`) by ingest's own rule
//! (`ehr_ingest::pipeline::record_id`): a record id is bound in each
//! ciphertext, so the two must agree on every id, short or hashed. The leaf
//! from the batch's tree (`ingest.tree_leaf`) where
//! `ehr_ledger::crypto::block_tree` put it, for every size and block width.

use ehr_ingest::pipeline::record_id;
use ehr_ledger::crypto::{block_tree, sha256};
use ehr_testkit::stack::database;

#[test]
fn what_the_database_derives_of_a_reading_is_what_ingest_wrote() {
    let db = database();
    let mut owner = db.client().unwrap();
    let long = "d".repeat(70);
    let edge = "e".repeat(62);
    let cases = [
        ("hr-1", 1i64),
        ("spo2-1", 9_007_199_254_740_993),
        ("hr-2", -1), // u64::MAX as the bigint it is stored as
        ("hr-3", i64::MIN),
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
        // Stored as ingest stores it (`seq as i64`), read back as sent.
        assert_eq!(derived, record_id(device, seq as u64), "{device}:{seq}");
    }
    assert!(record_id(&edge, 10).starts_with("h:"));
    assert!(!record_id(&edge, 9).starts_with("h:"));

    // Trees of 1 to 70 leaves in blocks of 1, 4 and 16 (ingest's), and one
    // of 4 000 (ingest's largest batch): every leaf where the tree holds it.
    let mut trees: Vec<(usize, u32)> = (1..=70)
        .flat_map(|n| [0, 2, 4].map(|bits| (n, bits)))
        .collect();
    trees.push((4_000, 4));
    for (size, bits) in trees {
        let leaves: Vec<[u8; 32]> = (0..size)
            .map(|i| sha256(format!("{size}/{bits}/{i}").as_bytes()))
            .collect();
        let tree = block_tree::build(&leaves, bits).unwrap();
        let derived: Vec<Vec<u8>> = owner
            .query(
                "SELECT ingest.tree_leaf($1, $2, $3, i) FROM generate_series(0, $3 - 1) AS i ORDER BY i",
                &[&tree, &(bits as i32), &(size as i32)],
            )
            .unwrap()
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        let expected: Vec<Vec<u8>> = leaves.iter().map(|l| l.to_vec()).collect();
        assert_eq!(
            derived, expected,
            "a tree of {size} leaves in blocks of 2^{bits}"
        );
    }
}
