//! Two governance decisions in one block on four real validators: East's new
//! validator is admitted, then East itself is removed with every validator
//! it operates. CometBFT must hear only "remove East's founding validator":
//! told to remove the new key it never had, every validator would stop at
//! that height for good, and replay would stop there again.

mod common;

use std::time::Duration;

use common::*;
use ehr_client::rpc::RpcClient;
use ehr_ledger::mock_consensus::validator_key;
use ehr_ledger::proto::action::Kind;
use ehr_ledger::proto::{
    governance_change::Kind as Change, AddValidator, GovernanceChange, Propose, RemoveMember, Vote,
};
use ehr_ledger::tx::sign_tx;
use ehr_testkit::cometbft::{wait_height, Settings};
use tendermint::PublicKey;

fn propose(change: Change) -> Kind {
    Kind::Propose(Propose {
        change: Some(GovernanceChange { kind: Some(change) }),
    })
}

fn approve(proposal_id: u64) -> Kind {
    Kind::Vote(Vote {
        proposal_id,
        approve: true,
    })
}

async fn proposal_id(rpc: &RpcClient, chain_id: &str, change: Change) -> u64 {
    let r = send(rpc, chain_id, &admin("north"), propose(change)).await;
    r.tx_result
        .attribute("proposal", "id")
        .and_then(|id| id.parse().ok())
        .expect("the proposal's id in its event")
}

async fn validator_keys(rpc: &RpcClient) -> Vec<PublicKey> {
    let h = rpc.latest_height().await.unwrap();
    rpc.validator_set(h)
        .await
        .unwrap()
        .validators()
        .iter()
        .map(|v| v.pub_key)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validator_added_and_its_member_removed_in_one_block_leave_the_chain_going() {
    let dir = tempfile::tempdir().unwrap();
    // A long pause between blocks, so that the two deciding votes sent just
    // after a block are both in the next one.
    let settings = Settings {
        timeout_commit: Duration::from_millis(2000),
        ..Settings::default()
    };
    let network = four_hospitals_with(dir.path(), settings).await;
    let general = network.nodes[0].rpc();
    let chain_id = network.chain_id.clone();
    let founders = validator_keys(&general).await;
    assert_eq!(founders.len(), 4);
    let east_validator = PublicKey::from_raw_ed25519(
        &network.nodes[3]
            .validator_public_key()
            .expect("east's validator key"),
    )
    .unwrap();
    assert!(founders.contains(&east_validator));

    let extra = validator_key("validator-2@east");
    let power = general
        .validator_set(general.latest_height().await.unwrap())
        .await
        .unwrap()
        .validators()[0]
        .power
        .value() as i64;
    let add = proposal_id(
        &general,
        &chain_id,
        Change::AddValidator(AddValidator {
            pub_key: extra.clone(),
            power,
            operator_org: "east".into(),
        }),
    )
    .await;
    let remove = proposal_id(
        &general,
        &chain_id,
        Change::RemoveMember(RemoveMember {
            org_id: "east".into(),
        }),
    )
    .await;
    for id in [add, remove] {
        send(&general, &chain_id, &admin("general"), approve(id)).await;
    }

    // South's deciding votes, consecutive nonces, sent right after a block.
    let south = admin("south");
    let nonce = general.next_nonce(&south.address()).await.unwrap();
    let txs = [
        sign_tx(&south, &chain_id, nonce, approve(add)),
        sign_tx(&south, &chain_id, nonce + 1, approve(remove)),
    ];
    let now = general.latest_height().await.unwrap();
    wait_height(&general, now + 1, PATIENCE).await.unwrap();
    for tx in &txs {
        let r = general.broadcast_tx_sync(tx).await.unwrap();
        assert_eq!(r.code, 0, "CheckTx: {}", r.log);
    }
    let mut heights = Vec::new();
    for tx in &txs {
        let info = general
            .wait_for_tx(&ehr_ledger::crypto::sha256(tx), PATIENCE)
            .await
            .expect("the deciding vote is committed");
        assert_eq!(info.tx_result.code, 0, "{}", info.tx_result.log);
        let decided = info
            .tx_result
            .attribute("proposal_decided", "status")
            .unwrap_or_default();
        assert_eq!(decided, "PROPOSAL_STATUS_APPLIED");
        heights.push(info.height.parse::<u64>().unwrap());
    }
    assert_eq!(
        heights[0], heights[1],
        "both decisions are in one block (the scenario this test is about)"
    );
    let decided_at = heights[0];

    // The chain goes on, on the three remaining validators: every node,
    // East's too (a full node now), reaches further heights with one app hash.
    for node in &network.nodes {
        wait_height(&node.rpc(), decided_at + 3, PATIENCE)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", node.log_tail(30)));
    }
    let hash = app_hash_at(&general, decided_at + 2).await;
    for node in &network.nodes[1..] {
        assert_eq!(app_hash_at(&node.rpc(), decided_at + 2).await, hash);
    }
    let now = validator_keys(&general).await;
    assert_eq!(now.len(), 3, "East's validator left the set");
    assert!(!now.contains(&east_validator));
    let extra = PublicKey::from_raw_ed25519(&extra).unwrap();
    assert!(!now.contains(&extra), "the new key never joined");
}
