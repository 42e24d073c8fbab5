//! Safety under a partition: four hospitals at four sites split two and two
//! (General and North on one side, South and East on the other). Neither side
//! holds more than two thirds of the voting power, so no block is committed
//! anywhere while they are apart — not even the transaction General accepted
//! into its mempool. When the links heal, blocks resume, that transaction is
//! committed, and every node has the same app hash at every height.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, RegisterStaff, Role};
use ehr_ledger::tx::sign_tx;
use ehr_testkit::cometbft::wait_height;

#[tokio::test(flavor = "multi_thread")]
async fn split_two_and_two_the_chain_commits_nothing_until_the_sites_meet_again() {
    let dir = tempfile::tempdir().unwrap();
    let network = four_sites(dir.path()).await;
    let sites = sites(&network);
    sites
        .set_latency(Duration::from_millis(25), Duration::from_millis(5))
        .unwrap();
    let general = network.nodes[0].rpc();

    sites.cut_between(&[0, 1], &[2, 3]).unwrap();
    // A block whose votes were all cast before the cut may still land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let at_cut = heights(&network).await;
    let admin = admin("general");
    let nonce = general.next_nonce(&admin.address()).await.unwrap();
    let nurse = SecretKey::from_seed("nurse@general");
    let tx = sign_tx(
        &admin,
        &network.chain_id,
        nonce,
        Kind::RegisterStaff(RegisterStaff {
            public_key: nurse.public_key().to_bytes().to_vec(),
            role: Role::Nurse as i32,
        }),
    );
    let accepted = general.broadcast_tx_sync(&tx).await.unwrap();
    assert_eq!(accepted.code, 0, "CheckTx: {}", accepted.log);

    tokio::time::sleep(Duration::from_secs(15)).await;
    let during = heights(&network).await;
    assert_eq!(
        during, at_cut,
        "no node committed a block during the split (heights at the cut, then 15 s later)"
    );

    sites.heal().unwrap();
    let healed = Instant::now();
    let top = *at_cut.iter().max().unwrap();
    for node in &network.nodes {
        wait_height(&node.rpc(), top + 3, PATIENCE)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", node.log_tail(20)));
    }
    eprintln!(
        "blocks resumed after the heal: every node 3 past height {top} in {:.1} s",
        healed.elapsed().as_secs_f64()
    );
    assert_eq!(
        general_staff(&network.nodes[3].rpc()).await,
        2,
        "the nurse General accepted during the split is committed after it"
    );
    same_app_hashes(&network, top + 3).await;
}
