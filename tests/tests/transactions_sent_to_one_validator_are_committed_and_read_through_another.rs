//! Four hospitals, four CometBFT validators: a transaction sent to General's
//! node is committed by all, read back through South's, and every validator
//! reports the same app hash at every height.

mod common;

use common::*;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, Participant, RegisterStaff, Role};
use ehr_testkit::cometbft::wait_height;

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_sent_to_one_validator_is_read_through_another_with_the_same_app_hash_everywhere(
) {
    let dir = tempfile::tempdir().unwrap();
    let network = four_hospitals(dir.path()).await;
    let (general, south) = (network.nodes[0].rpc(), network.nodes[2].rpc());

    let doctor = SecretKey::from_seed("doctor@general");
    let r = send(
        &general,
        &network.chain_id,
        &admin("general"),
        Kind::RegisterStaff(RegisterStaff {
            public_key: doctor.public_key().to_bytes().to_vec(),
            role: Role::Doctor as i32,
        }),
    )
    .await;
    let included: u64 = r.height.parse().unwrap();

    for node in &network.nodes {
        wait_height(&node.rpc(), included + 1, PATIENCE)
            .await
            .unwrap();
    }
    let seen: Option<Participant> = south
        .query(&format!("/participant/{}", doctor.address()))
        .await
        .unwrap();
    assert_eq!(
        seen.expect("the doctor is registered on South's validator")
            .role,
        Role::Doctor as i32
    );
    // The transaction is found by hash on another node, in the same block.
    let hash: [u8; 32] = hex::decode(&r.hash).unwrap().try_into().unwrap();
    let found = south
        .tx(&hash)
        .await
        .expect("South's node knows the transaction");
    assert_eq!(found.height, r.height);

    let up_to = south.latest_height().await.unwrap();
    same_app_hashes(&network, up_to).await;
}
