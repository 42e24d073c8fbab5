//! The code directory on the real network: every validator serves the seeded
//! directory from the genesis; a code retired by governance (three of four
//! members) is proven retired, with its reason and replacement, through each
//! of the four validators — checked against the headers they signed, not
//! taken on any node's word — and a search finds it only when asked for
//! retired codes.

mod common;

use std::time::{Duration, Instant};

use common::governance::*;
use common::*;
use ehr_client::codes;
use ehr_client::rpc::proven::{ProvenState, DEFAULT_MAX_AGE};
use ehr_client::rpc::trust::TrustRoot;
use ehr_ledger::proto::{governance_change::Kind as Change, CodeSystem, ConceptStatus, RetireCode};

#[tokio::test(flavor = "multi_thread")]
async fn governance_retires_a_code_and_every_validator_proves_it_retired() {
    let dir = tempfile::tempdir().unwrap();
    let network = four_hospitals(dir.path()).await;
    let chain_id = network.chain_id.clone();
    let trust = TrustRoot::Genesis {
        file: network.genesis.clone(),
        store_dir: None,
        checkpoint: None,
    };
    let general = ProvenState::connect(network.nodes[0].rpc(), &trust, DEFAULT_MAX_AGE)
        .await
        .unwrap();
    let glucose = codes::show(&general, CodeSystem::Loinc, "2339-0")
        .await
        .unwrap()
        .expect("the genesis seeds glucose (mass/volume)");
    assert_eq!(glucose.status, ConceptStatus::Active as i32);
    assert!(codes::show(&general, CodeSystem::Loinc, "1234-4")
        .await
        .unwrap()
        .is_none());

    decide(
        &network.nodes[0].rpc(),
        &chain_id,
        Change::RetireCode(RetireCode {
            system: CodeSystem::Loinc as i32,
            code: "2339-0".into(),
            reason: "glucose reported in mmol/L".into(),
            replaced_by: "15074-8".into(),
        }),
    )
    .await;

    for node in &network.nodes {
        let chain = ProvenState::connect(node.rpc(), &trust, DEFAULT_MAX_AGE)
            .await
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        let retired = loop {
            let c = codes::show(&chain, CodeSystem::Loinc, "2339-0")
                .await
                .unwrap()
                .expect("a retired code stays in the directory");
            if c.status == ConceptStatus::Retired as i32 {
                break c;
            }
            assert!(Instant::now() < deadline, "never retired on {}", node.name);
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(retired.reason, "glucose reported in mmol/L");
        assert_eq!(retired.replaced_by, "15074-8");
        assert_eq!(retired.entry.unwrap().unit, "mg/dL");
    }
    let active = codes::search(&general, CodeSystem::Loinc, "glucose", false)
        .await
        .unwrap();
    let found: Vec<String> = active
        .iter()
        .map(|c| c.entry.clone().unwrap().code)
        .collect();
    assert!(found.contains(&"15074-8".to_string()), "{found:?}");
    assert!(!found.contains(&"2339-0".to_string()), "{found:?}");
    let all = codes::search(&general, CodeSystem::Loinc, "GLUCOSE", true)
        .await
        .unwrap();
    assert!(all
        .iter()
        .any(|c| c.entry.as_ref().unwrap().code == "2339-0"));
}
