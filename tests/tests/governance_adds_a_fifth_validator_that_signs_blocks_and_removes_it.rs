//! Governance changes the validator set of the real network: a fifth node
//! joins as a full node; a member proposes it as a validator and, once more
//! than two thirds of the members approve, CometBFT's `/validators` lists it
//! and it signs blocks. Removed the same way, it leaves the set and signs no
//! more.

mod common;

use common::governance::*;
use common::*;
use ehr_ledger::proto::{governance_change::Kind as Change, RemoveValidator};
use ehr_testkit::cometbft::wait_height;
use tendermint::PublicKey;

#[tokio::test(flavor = "multi_thread")]
async fn governance_adds_a_fifth_validator_that_signs_blocks_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = four_hospitals(dir.path()).await;
    let general = network.nodes[0].rpc();
    let chain_id = network.chain_id.clone();

    let west = network.add_node("west").unwrap();
    let west_rpc = west.rpc();
    let raw = west.validator_public_key().unwrap();
    let key = PublicKey::from_raw_ed25519(&raw).unwrap();
    let now = general.latest_height().await.unwrap();
    wait_height(&west_rpc, now, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", network.nodes[4].log_tail(20)));
    assert!(!in_set(&general, &key).await);

    admit(&general, &chain_id, raw.clone()).await;
    wait_until_in_set(&general, &key, true).await;
    assert_eq!(
        general
            .validator_set(general.latest_height().await.unwrap())
            .await
            .unwrap()
            .validators()
            .len(),
        5
    );
    assert!(
        signed_by(&general, &key, 5).await >= 3,
        "the fifth validator signs blocks\n{}",
        network.nodes[4].log_tail(20)
    );

    decide(
        &general,
        &chain_id,
        Change::RemoveValidator(RemoveValidator { pub_key: raw }),
    )
    .await;
    wait_until_in_set(&general, &key, false).await;
    assert_eq!(
        signed_by(&general, &key, 3).await,
        0,
        "removed, it signs no more"
    );
    // The network goes on with the four founders.
    let h = general.latest_height().await.unwrap();
    wait_height(&general, h + 2, PATIENCE).await.unwrap();
}
