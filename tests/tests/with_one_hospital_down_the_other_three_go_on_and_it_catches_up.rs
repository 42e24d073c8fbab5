//! Four validators tolerate one faulty: with East's hospital down (both its
//! processes killed -9) the other three keep committing; when East comes
//! back, CometBFT's handshake and block sync bring its ledger to the same app
//! hash as the others at every height.

mod common;

use common::*;
use ehr_testkit::cometbft::wait_height;

#[tokio::test(flavor = "multi_thread")]
async fn with_one_hospital_down_the_other_three_go_on_and_it_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = four_hospitals(dir.path()).await;
    let general = network.nodes[0].rpc();

    network.nodes[3].kill();
    let down_at = general.latest_height().await.unwrap();
    // Three of four still hold more than two thirds of the voting power.
    register_general_staff(&general, &network.chain_id).await;
    let while_down = wait_height(&general, down_at + 5, PATIENCE).await.unwrap();
    assert!(
        network.nodes[3].rpc().latest_height().await.is_err(),
        "East's node is down"
    );

    network.nodes[3].restart().unwrap();
    let east = network.nodes[3].rpc();
    wait_height(&east, while_down + 2, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", network.nodes[3].log_tail(20)));
    assert_eq!(general_staff(&east).await, 3, "admin, nurse and pharmacist");
    same_app_hashes(&network, while_down + 1).await;
}
