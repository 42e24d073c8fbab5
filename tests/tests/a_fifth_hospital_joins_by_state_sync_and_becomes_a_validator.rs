//! A new hospital joins a running consortium without replaying its history:
//! its node restores a snapshot the validators wrote (checked by CometBFT's
//! light client and by the ledger against the app hash the validators
//! signed), follows the chain from there, answers queries with proofs of
//! what was written before it joined, accepts transactions, and — once
//! governance admits it — signs blocks as a fifth validator.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::governance::*;
use common::*;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, Participant, RegisterStaff, Role};
use ehr_ledger::storage::verify_proof;
use ehr_testkit::cometbft::{wait_height, Settings};
use tendermint::PublicKey;

const SNAPSHOT_EVERY: u64 = 10;

/// The newest snapshot height a validator has written, once it has one.
fn newest_snapshot(app_home: &Path) -> Option<u64> {
    std::fs::read_dir(app_home.join("snapshots"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("manifest").is_file())
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .max()
}

fn register(doctor: &SecretKey) -> Kind {
    Kind::RegisterStaff(RegisterStaff {
        public_key: doctor.public_key().to_bytes().to_vec(),
        role: Role::Doctor as i32,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fifth_hospital_joins_by_state_sync_and_becomes_a_validator() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        snapshot_interval: SNAPSHOT_EVERY,
        // The validators prune too, as a consortium's would.
        keep_heights: 50,
        ..Settings::default()
    };
    let mut network = four_hospitals_with(dir.path(), settings).await;
    let general = network.nodes[0].rpc();
    let chain_id = network.chain_id.clone();

    // History before the newcomer: a doctor registered at General.
    let doctor = SecretKey::from_seed("doctor@general");
    let r = send(&general, &chain_id, &admin("general"), register(&doctor)).await;
    let registered_at: u64 = r.height.parse().unwrap();

    // Wait for a snapshot after that block, on two validators at least.
    let deadline = Instant::now() + PATIENCE;
    let snapshot = loop {
        let heights: Vec<u64> = network
            .nodes
            .iter()
            .filter_map(|n| newest_snapshot(&n.app_home()))
            .filter(|h| *h > registered_at)
            .collect();
        if heights.len() >= 2 {
            break *heights.iter().min().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot after height {registered_at}\n{}",
            network.nodes[0].log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The light client checks the snapshot's height and the two after it.
    wait_height(&general, snapshot + 3, PATIENCE).await.unwrap();
    let trust_hash = general.block(Some(snapshot)).await.unwrap().block_id.hash;

    let west = network
        .add_node_by_state_sync("west", snapshot, &trust_hash)
        .unwrap_or_else(|e| panic!("the fifth node starts: {e}"));
    let west_rpc = west.rpc();
    let raw = west.validator_public_key().unwrap();
    let now = general.latest_height().await.unwrap();
    if let Err(e) = wait_height(&west_rpc, now, PATIENCE).await {
        panic!("{e}\n{}", network.nodes[4].log_tail(30));
    }

    // It did not replay from genesis: its first block is past the snapshot,
    // and its ledger says it restored one.
    let status = west_rpc.status().await.unwrap();
    let earliest: u64 = status.sync_info.earliest_block_height.parse().unwrap();
    assert!(
        earliest > registered_at,
        "the fifth node's history starts at {earliest}, after the doctor's block {registered_at}"
    );
    assert!(
        network.nodes[4]
            .app_log()
            .contains("state restored from a snapshot"),
        "{}",
        network.nodes[4].log_tail(30)
    );

    // What was written before it joined, read through it with a proof that
    // holds against the app hash the validators signed.
    // (CometBFT may report a block its application is still applying: the
    // height before it is committed in both.)
    let at = west_rpc.latest_height().await.unwrap().saturating_sub(1);
    let proven = west_rpc
        .query_proven::<Participant>(&format!("/participant/{}", doctor.address()), at, true)
        .await
        .unwrap();
    assert_eq!(proven.value.as_ref().unwrap().role, Role::Doctor as i32);
    wait_height(&general, at + 1, PATIENCE).await.unwrap();
    let signed: [u8; 32] = hex::decode(app_hash_at(&general, at + 1).await)
        .unwrap()
        .try_into()
        .unwrap();
    let key = ehr_ledger::ledger::query::state_key(&format!("/participant/{}", doctor.address()))
        .unwrap()
        .unwrap();
    verify_proof(
        signed,
        key.as_bytes(),
        Some(&proven.raw),
        &proven.proof.expect("a proof was asked for"),
    )
    .expect("the fifth node's answer is proven against the validators' app hash");
    // Heights before the snapshot are refused with the reason.
    let old = west_rpc
        .abci_query(
            &format!("/participant/{}", doctor.address()),
            &[],
            registered_at,
            true,
        )
        .await
        .unwrap();
    assert_eq!(old.code, 3, "{}", old.log);
    assert!(old.log.contains("joined from a snapshot"), "{}", old.log);

    // A transaction sent through it is committed by the network.
    let nurse = SecretKey::from_seed("nurse@general");
    let r = send(
        &west_rpc,
        &chain_id,
        &admin("general"),
        Kind::RegisterStaff(RegisterStaff {
            public_key: nurse.public_key().to_bytes().to_vec(),
            role: Role::Nurse as i32,
        }),
    )
    .await;
    let included: u64 = r.height.parse().unwrap();
    wait_height(&general, included, PATIENCE).await.unwrap();
    let seen: Option<Participant> = general
        .query(&format!("/participant/{}", nurse.address()))
        .await
        .unwrap();
    assert!(seen.is_some(), "General's validator has the nurse");

    // Governance admits it; it signs blocks like the founders.
    let key = PublicKey::from_raw_ed25519(&raw).unwrap();
    admit(&general, &chain_id, raw).await;
    wait_until_in_set(&general, &key, true).await;
    assert!(
        signed_by(&general, &key, 5).await >= 3,
        "the fifth validator signs blocks\n{}",
        network.nodes[4].log_tail(20)
    );
    // It keeps following the chain it now helps to make: a block whose
    // header carries an app hash its own ledger did not compute would stop it.
    let h = general.latest_height().await.unwrap();
    wait_height(&west_rpc, h + 2, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", network.nodes[4].log_tail(20)));
    network.stop();
}
