//! What the four-validator scenarios share: the four founding hospitals with
//! known admin keys, sending a signed transaction and waiting for its block,
//! and reading every node's app hash; `cli`: the `ehr` CLI and `ehr-node dev`
//! as a user runs them.

#![allow(dead_code)]

use std::time::Duration;

use ehr_client::rpc::{BroadcastTxCommit, RpcClient};
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::action::Kind;
use ehr_ledger::tx::sign_tx;
use ehr_testkit::cometbft::{Member, Network, Settings};
use ehr_testkit::sites::Sites;

pub mod cli;
pub mod governance;

pub const HOSPITALS: [&str; 4] = ["general", "north", "south", "east"];

/// How long a network may take to reach a height it should reach in seconds.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub fn admin(org: &str) -> SecretKey {
    SecretKey::from_seed(&format!("admin@{org}"))
}

/// Four validators, one per founding hospital, started in `dir`; returns once
/// the first blocks are committed.
pub async fn four_hospitals(dir: &std::path::Path) -> Network {
    four_hospitals_with(dir, Settings::default()).await
}

/// Four hospitals as four sites (`ehr_testkit::sites`): each node in a
/// network namespace of its own, the peers linked only through Toxiproxy.
pub async fn four_sites(dir: &std::path::Path) -> Network {
    let sites = Sites::create(&dir.join("sites"), &HOSPITALS)
        .unwrap_or_else(|e| panic!("the sites are made: {e}"));
    four_hospitals_with(
        dir,
        Settings {
            sites: Some(std::sync::Arc::new(sites)),
            ..Settings::default()
        },
    )
    .await
}

/// The sites of a network made by `four_sites`.
pub fn sites(network: &Network) -> &Sites {
    network.sites.as_deref().expect("a network across sites")
}

/// Every node's height now, in the order of `network.nodes` (0: no answer).
pub async fn heights(network: &Network) -> Vec<u64> {
    let mut all = Vec::new();
    for node in &network.nodes {
        all.push(node.rpc().latest_height().await.unwrap_or(0));
    }
    all
}

/// The same, the validators configured with `settings`.
pub async fn four_hospitals_with(dir: &std::path::Path, settings: Settings) -> Network {
    let members: Vec<Member> = HOSPITALS
        .iter()
        .map(|org| Member {
            id: org.to_string(),
            name: format!("{org} hospital"),
            admin_public_key: hex::encode(admin(org).public_key().to_bytes()),
        })
        .collect();
    let network = Network::start(dir, &members, settings)
        .unwrap_or_else(|e| panic!("the network starts: {e}"));
    for node in &network.nodes {
        if let Err(e) = ehr_testkit::cometbft::wait_height(&node.rpc(), 2, PATIENCE).await {
            panic!("{e}\n{}", node.log_tail(20));
        }
    }
    network
}

/// Signs `action` with the account's next nonce, sends it through `rpc` and
/// waits for its block; panics if CheckTx or the block refuses it.
pub async fn send(
    rpc: &RpcClient,
    chain_id: &str,
    key: &SecretKey,
    action: Kind,
) -> BroadcastTxCommit {
    let nonce = rpc.next_nonce(&key.address()).await.expect("nonce");
    let r = rpc
        .broadcast_tx_commit(&sign_tx(key, chain_id, nonce, action))
        .await
        .expect("broadcast_tx_commit");
    assert_eq!(r.check_tx.code, 0, "CheckTx: {}", r.check_tx.log);
    assert_eq!(r.tx_result.code, 0, "FinalizeBlock: {}", r.tx_result.log);
    r
}

/// The app hash in the header of block `height`, as `rpc` reports it.
pub async fn app_hash_at(rpc: &RpcClient, height: u64) -> String {
    rpc.block(Some(height))
        .await
        .unwrap_or_else(|e| panic!("block {height} from {}: {e}", rpc.url()))
        .block
        .header
        .app_hash
}

/// Every node reports the same app hash at every height from 1 to `up_to`.
pub async fn same_app_hashes(network: &Network, up_to: u64) {
    for h in 1..=up_to {
        let first = app_hash_at(&network.nodes[0].rpc(), h).await;
        for node in &network.nodes[1..] {
            assert_eq!(
                app_hash_at(&node.rpc(), h).await,
                first,
                "{} and {} differ at height {h}",
                network.nodes[0].name,
                node.name
            );
        }
    }
}

/// General's admin registers a nurse and a pharmacist through `general`,
/// each in a block of its own.
pub async fn register_general_staff(general: &RpcClient, chain_id: &str) {
    use ehr_ledger::proto::{RegisterStaff, Role};
    for (who, role) in [
        ("nurse@general", Role::Nurse),
        ("pharmacist@general", Role::Pharmacist),
    ] {
        let staff = SecretKey::from_seed(who);
        send(
            general,
            chain_id,
            &admin("general"),
            Kind::RegisterStaff(RegisterStaff {
                public_key: staff.public_key().to_bytes().to_vec(),
                role: role as i32,
            }),
        )
        .await;
    }
}

/// How many of General's staff `rpc`'s ledger lists.
pub async fn general_staff(rpc: &RpcClient) -> usize {
    let staff: ehr_ledger::proto::ParticipantList = rpc
        .query("/staff/general")
        .await
        .unwrap()
        .expect("the ledger lists General's staff");
    staff.items.len()
}
