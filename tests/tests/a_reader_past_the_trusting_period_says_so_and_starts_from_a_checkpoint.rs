//! A consortium founded two years ago, on four real validators. A fresh
//! reader holding only the genesis file cannot verify anything from it — the
//! genesis set is past the trusting period — and says so, with what to do,
//! instead of calling an honest node a liar. Given a checkpoint (a recent
//! height and its header's hash, as `ehr checkpoint` prints it on a machine
//! that trusts the chain), it verifies today's headers; a checkpoint whose
//! hash the node's header does not have is refused.

mod common;

use common::*;
use ehr_client::rpc::light::{Checkpoint, LightClient, LightError};
use ehr_testkit::cometbft::{wait_height, Settings};

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_past_the_trusting_period_says_so_and_starts_from_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let two_years_ago = ehr_ledger::time::rfc3339(
        ehr_client::service::now_ms().div_euclid(1000) - 2 * 365 * 24 * 3600,
    );
    let settings = Settings {
        genesis_time: Some(two_years_ago),
        ..Settings::default()
    };
    let network = four_hospitals_with(dir.path(), settings).await;
    let rpc = network.nodes[0].rpc();
    let now = wait_height(&rpc, 4, PATIENCE).await.unwrap();

    // From the genesis alone: nothing verifies, and the reason is the age.
    let mut reader = LightClient::from_genesis(rpc.clone(), &network.genesis, None, None)
        .await
        .expect("the genesis root itself verifies");
    let e = reader
        .verify(now)
        .await
        .expect_err("past the trusting period");
    assert!(matches!(e, LightError::TrustExpired { .. }), "{e}");
    let said = e.to_string();
    assert!(said.contains("older than the trusting period"), "{said}");
    assert!(said.contains("--trust-checkpoint"), "{said}");
    assert!(
        !said.contains("lying"),
        "an honest node is not called a liar: {said}"
    );

    // From a checkpoint the consortium vouches for: today's headers verify.
    let at = now - 1;
    let checkpoint = Checkpoint {
        height: at,
        hash: rpc.signed_header(at).await.unwrap().header.hash(),
    };
    let text = checkpoint.to_string();
    assert_eq!(text.parse::<Checkpoint>().unwrap(), checkpoint);
    let mut reader =
        LightClient::from_genesis(rpc.clone(), &network.genesis, None, Some(checkpoint))
            .await
            .expect("the checkpoint verifies");
    let later = wait_height(&rpc, now + 2, PATIENCE).await.unwrap();
    let header = reader
        .verify(later)
        .await
        .expect("verified from the checkpoint");
    assert_eq!(header.height, later);
    assert_eq!(reader.newest().map(|c| c.height), Some(later));

    // A checkpoint of another header is refused by name.
    let wrong = Checkpoint {
        height: at,
        hash: rpc.signed_header(at + 1).await.unwrap().header.hash(),
    };
    let e = LightClient::from_genesis(rpc.clone(), &network.genesis, None, Some(wrong))
        .await
        .err()
        .expect("not the checkpoint's header");
    assert!(matches!(e, LightError::NotTheCheckpoint { .. }), "{e}");
    for bad in ["12", "x:00", "12:abcd", "0:00"] {
        assert!(bad.parse::<Checkpoint>().is_err(), "{bad}");
    }
}
