//! Governance over the real network: a change proposed by North's admin
//! and approved by General's and South's (three of four members), and what
//! CometBFT then shows of the validator set and of who signs blocks.

use std::time::{Duration, Instant};

use ehr_client::rpc::RpcClient;
use ehr_ledger::proto::action::Kind;
use ehr_ledger::proto::{
    governance_change::Kind as Change, AddValidator, GovernanceChange, Propose, Vote,
};
use ehr_testkit::cometbft::wait_height;
use tendermint::block::CommitSig;
use tendermint::PublicKey;

use super::*;

fn propose(change: Change) -> Kind {
    Kind::Propose(Propose {
        change: Some(GovernanceChange { kind: Some(change) }),
    })
}

/// Governance admits the validator of ed25519 key `raw` (operated by North)
/// with the founders' voting power.
pub async fn admit(rpc: &RpcClient, chain_id: &str, raw: Vec<u8>) {
    let h = rpc.latest_height().await.unwrap();
    let power = rpc.validator_set(h).await.unwrap().validators()[0]
        .power
        .value() as i64;
    decide(
        rpc,
        chain_id,
        Change::AddValidator(AddValidator {
            pub_key: raw,
            power,
            operator_org: "north".into(),
        }),
    )
    .await;
}

/// Proposed by North's admin, approved by General's and South's: three of four.
pub async fn decide(rpc: &RpcClient, chain_id: &str, change: Change) {
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

pub async fn in_set(rpc: &RpcClient, key: &PublicKey) -> bool {
    let h = rpc.latest_height().await.unwrap();
    let set = rpc.validator_set(h).await.unwrap();
    set.validators().iter().any(|v| &v.pub_key == key)
}

pub async fn wait_until_in_set(rpc: &RpcClient, key: &PublicKey, wanted: bool) {
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
pub async fn signed_by(rpc: &RpcClient, key: &PublicKey, blocks: u64) -> usize {
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
