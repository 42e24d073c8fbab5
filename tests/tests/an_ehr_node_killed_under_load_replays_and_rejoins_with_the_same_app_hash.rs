//! `ehr-node` of North is killed -9 while transactions stream in and its
//! `cometbft` runs. Restarted, it answers Info with its last committed
//! height and app hash, CometBFT's handshake replays the blocks it lacks, and
//! it rejoins with the same app hash as the others at every height.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, EnrollPatient};
use ehr_ledger::tx::sign_tx;
use ehr_testkit::cometbft::wait_height;

#[tokio::test(flavor = "multi_thread")]
async fn an_ehr_node_killed_under_load_replays_and_rejoins_with_the_same_app_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = four_hospitals(dir.path()).await;
    let chain_id = network.chain_id.clone();

    // Load: South's front desk enrolling new patients through South's node,
    // without pause (one signer, consecutive nonces).
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, accepted, rpc) = (stop.clone(), accepted.clone(), network.nodes[2].rpc());
        tokio::spawn(async move {
            let desk = admin("south");
            let mut nonce = rpc.next_nonce(&desk.address()).await.unwrap_or(1);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let patient = SecretKey::from_seed(&format!("patient-{i}"));
                let tx = sign_tx(
                    &desk,
                    &chain_id,
                    nonce,
                    Kind::EnrollPatient(EnrollPatient {
                        public_keys: vec![patient.public_key().to_bytes().to_vec()],
                    }),
                );
                if matches!(rpc.broadcast_tx_sync(&tx).await, Ok(r) if r.code == 0) {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    nonce += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let general = network.nodes[0].rpc();
    let now = general.latest_height().await.unwrap();
    wait_height(&general, now + 3, PATIENCE).await.unwrap();

    network.nodes[1].kill_app();
    let after_kill = general.latest_height().await.unwrap();
    wait_height(&general, after_kill + 3, PATIENCE)
        .await
        .unwrap();
    network.nodes[1].restart().unwrap();
    // The restarted application opened its ledger where it had committed.
    let log = std::fs::read_to_string(network.nodes[1].home.join("ehr-node-north.log")).unwrap();
    let reopened = log
        .lines()
        .filter(|l| l.contains("ledger opened"))
        .nth(1)
        .expect("a second start of North's ehr-node");
    let height: u64 = reopened
        .split("height=")
        .nth(1)
        .and_then(|h| h.split_whitespace().next())
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("no height in {reopened:?}"));
    assert!(height > now, "{reopened}");
    let target = general.latest_height().await.unwrap();
    wait_height(&network.nodes[1].rpc(), target, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", network.nodes[1].log_tail(30)));

    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert!(
        accepted.load(Ordering::Relaxed) > 20,
        "the load went on throughout"
    );
    // North's ledger holds the patients enrolled while it was down.
    let last = SecretKey::from_seed("patient-1");
    let seen: Option<ehr_ledger::proto::Enrollment> = network.nodes[1]
        .rpc()
        .query(&format!("/enrollment/{}", last.address()))
        .await
        .unwrap();
    assert_eq!(seen.map(|e| e.org_id).as_deref(), Some("south"));
    let up_to = general.latest_height().await.unwrap();
    wait_height(&network.nodes[1].rpc(), up_to, PATIENCE)
        .await
        .unwrap();
    same_app_hashes(&network, up_to).await;
}
