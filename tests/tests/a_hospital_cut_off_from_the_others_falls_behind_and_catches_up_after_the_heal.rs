//! Four hospitals at four sites, 10 ms apart: East's site is cut off from
//! the other three (its wide-area links closed, new ones refused) while
//! General takes transactions. The three hold more than two thirds of the
//! voting power and go on; East, alone, commits nothing. When the links heal,
//! East redials its peers, catches up by block sync, and every node has the
//! same app hash at every height.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ehr_testkit::cometbft::wait_height;

const EAST: usize = 3;

#[tokio::test(flavor = "multi_thread")]
async fn a_hospital_cut_off_from_the_others_falls_behind_and_catches_up_after_the_heal() {
    let dir = tempfile::tempdir().unwrap();
    let network = four_sites(dir.path()).await;
    let sites = sites(&network);
    sites
        .set_latency(Duration::from_millis(10), Duration::from_millis(2))
        .unwrap();
    let general = network.nodes[0].rpc();
    let east = network.nodes[EAST].rpc();

    sites.isolate(EAST).unwrap();
    // A block already voted on when the links closed may still reach East.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let east_at_cut = east.latest_height().await.unwrap();
    let general_at_cut = general.latest_height().await.unwrap();
    register_general_staff(&general, &network.chain_id).await;
    let ahead = wait_height(&general, general_at_cut + 8, PATIENCE)
        .await
        .unwrap();
    let east_while_cut = east.latest_height().await.unwrap();
    assert_eq!(
        east_while_cut, east_at_cut,
        "East, cut off, committed nothing while the others went from {general_at_cut} to {ahead}"
    );

    sites.heal().unwrap();
    let healed = Instant::now();
    let target = general.latest_height().await.unwrap();
    wait_height(&east, target, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", network.nodes[EAST].log_tail(20)));
    eprintln!(
        "East caught up from height {east_at_cut} to {target} in {:.1} s after the heal",
        healed.elapsed().as_secs_f64()
    );
    assert_eq!(general_staff(&east).await, 3, "admin, nurse and pharmacist");
    same_app_hashes(&network, target).await;
}
