//! Governance changes the validator set of the real network: a fifth node
//! joins as a full node; a member proposes it as a validator and, once more
//! than two thirds of the members approve, CometBFT's `/validators` lists it
//! and it signs blocks. Removed the same way, it leaves the set and signs no
//! more.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ehr_client::rpc::RpcClient;
use ehr_ledger::proto::action::Kind;
use ehr_ledger::proto::{
    governance_change::Kind as Change, AddValidator, GovernanceChange, Propose, RemoveValidator,
    Vote,
};
use ehr_testkit::cometbft::wait_height;
use tendermint::block::CommitSig;
use tendermint::PublicKey;

fn propose(change: Change) -> Kind {
    Kind::Propose(Propose {
        change: Some(GovernanceChange { kind: Some(change) }),
    })
}

/// Proposed by North's admin, approved by General's and South's: three of four.
async fn decide(rpc: &RpcClient, chain_id: &str, change: Change) {
    let r = send(rpc, chain_id, &admin("north"), propose(change)).await;
    let id: u64 = r
        .tx_result
        .attribute("proposal", "id")
        .and_then(|id| id.parse().ok())
        .expect("the proposal's id in its event");
    for org in ["general", "south"] {
        send(
            rpc,
            chain_id,
            &admin(org),
            Kind::Vote(Vote {
                proposal_id: id,
                approve: true,
            }),
        )
        .await;
    }
}

async fn in_set(rpc: &RpcClient, key: &PublicKey) -> bool {
    let h = rpc.latest_height().await.unwrap();
    let set = rpc.validator_set(h).await.unwrap();
    set.validators().iter().any(|v| &v.pub_key == key)
}

async fn wait_until_in_set(rpc: &RpcClient, key: &PublicKey, wanted: bool) {
    let deadline = Instant::now() + PATIENCE;
    while in_set(rpc, key).await != wanted {
        assert!(
            Instant::now() < deadline,
            "the validator set never {} the new validator",
            if wanted { "listed" } else { "dropped" }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Heights among the next `blocks` whose commit the validator signed.
async fn signed_by(rpc: &RpcClient, key: &PublicKey, blocks: u64) -> usize {
    let address = tendermint::account::Id::from(*key);
    let from = rpc.latest_height().await.unwrap();
    wait_height(rpc, from + blocks + 1, PATIENCE).await.unwrap();
    let mut signed = 0;
    for h in from + 1..=from + blocks {
        let header = rpc.signed_header(h).await.unwrap();
        signed += header
            .commit
            .signatures
            .iter()
            .filter(|s| matches!(s, CommitSig::BlockIdFlagCommit { validator_address, .. } if *validator_address == address))
            .count();
    }
    signed
}

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

    let power = general.validator_set(now).await.unwrap().validators()[0]
        .power
        .value() as i64;
    decide(
        &general,
        &chain_id,
        Change::AddValidator(AddValidator {
            pub_key: raw.clone(),
            power,
            operator_org: "north".into(),
        }),
    )
    .await;
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
