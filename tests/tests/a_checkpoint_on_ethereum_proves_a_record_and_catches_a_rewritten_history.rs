//! The consortium's state checkpointed on Ethereum (a real `geth --dev`
//! beside four real validators): three of the four members each sign the app
//! hash their own light client checked, any member writes the checkpoint, and
//! a verifier who trusts only Ethereum proves a patient's record through a
//! node it does not trust. Two members' signatures are not enough, nor is a
//! stranger's. Then the members rerun the chain under the same chain id — a
//! rewritten history: the old checkpoint contradicts every header the new
//! chain serves, the record no longer proves, and when more than two thirds
//! sign the new history's app hash for the same height, the contract keeps
//! both and says so.

mod common;

use common::*;
use ehr_client::ethereum::checkpoints::{
    self, Attestation, CheckpointContract, CheckpointError, Finding,
};
use ehr_client::ethereum::{BlockTag, EthAddress, EthClient, EthError};
use ehr_client::rpc::trust::{Anchor, TrustRoot};
use ehr_ledger::crypto::{sha256, SecretKey};
use ehr_ledger::proto::action::Kind;
use ehr_ledger::proto::{Category, RegisterPatient};
use ehr_testkit::actions;
use ehr_testkit::cometbft::{Network, Settings};
use ehr_testkit::ethereum::Geth;

const CHAIN_ID: &str = "ehr-checkpointed";
const ONE_ETHER: u128 = 1_000_000_000_000_000_000;

fn trust(network: &Network) -> TrustRoot {
    TrustRoot::Genesis {
        file: network.genesis.clone(),
        store_dir: None,
        checkpoint: None,
    }
}

/// Each named member signs the app hash after `height`, checked by the
/// light client over its own hospital's node.
async fn attest(network: &Network, orgs: &[&str], height: u64) -> Vec<Attestation> {
    let mut signed = Vec::new();
    for org in orgs {
        let i = HOSPITALS.iter().position(|h| h == org).unwrap();
        let anchor = Anchor::connect(network.nodes[i].rpc(), &trust(network))
            .await
            .unwrap();
        signed.push(
            Attestation::sign_verified(&anchor, &admin(org), height)
                .await
                .unwrap(),
        );
    }
    signed
}

/// An Ethereum node that answers as geth does but leaves every event out:
/// a JSON-RPC proxy to geth whose `eth_getLogs` answers nothing.
async fn forgetful_ethereum_node(geth: &str) -> String {
    use axum::{routing::post, Json, Router};
    use serde_json::{json, Value};
    let upstream = ehr_client::rpc::RpcClient::new(geth);
    let app = Router::new().route(
        "/",
        post(move |Json(request): Json<Value>| {
            let upstream = upstream.clone();
            async move {
                let method = request["method"].as_str().unwrap_or_default().to_string();
                let answer = if method == "eth_getLogs" {
                    Ok(json!([]))
                } else {
                    upstream
                        .call::<Value>(&method, request["params"].clone())
                        .await
                };
                Json(match answer {
                    Ok(result) => {
                        json!({ "jsonrpc": "2.0", "id": request["id"], "result": result })
                    }
                    Err(e) => json!({ "jsonrpc": "2.0", "id": request["id"],
                                      "error": { "code": -32000, "message": e.to_string() } }),
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn founded(dir: &std::path::Path) -> Network {
    four_hospitals_with(
        dir,
        Settings {
            chain_id: Some(CHAIN_ID.into()),
            ..Settings::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_on_ethereum_proves_a_record_and_catches_a_rewritten_history() {
    let dir = tempfile::tempdir().unwrap();
    let geth = Geth::start(dir.path()).unwrap_or_else(|e| panic!("geth starts: {e}"));
    let eth = EthClient::new(&geth.url);
    let mut first = founded(&dir.path().join("first")).await;
    let general = first.nodes[0].rpc();

    // The members' keys are their Ethereum accounts; two of them pay.
    for org in ["general", "north"] {
        eth.fund_from_dev_account(&EthAddress::of(&admin(org).public_key()), ONE_ETHER)
            .await
            .unwrap_or_else(|e| panic!("funding {org}: {e}\n{}", geth.log_tail(20)));
    }
    let signers: Vec<(EthAddress, u64)> = HOSPITALS
        .iter()
        .map(|org| (EthAddress::of(&admin(org).public_key()), 1))
        .collect();
    let (contract, deployed) =
        CheckpointContract::deploy(eth.clone(), &admin("general"), CHAIN_ID, &signers)
            .await
            .unwrap();
    println!(
        "deploying the contract with four signers: {} gas",
        deployed.gas_used
    );
    let mut listed = contract.signers().await.unwrap();
    listed.sort();
    let mut expected = signers.clone();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(matches!(
        contract.latest().await,
        Err(CheckpointError::NoCheckpoint { .. })
    ));

    // A patient's record, anchored on the consortium's chain.
    let patient = SecretKey::from_seed("patient checkpointed");
    send(
        &general,
        CHAIN_ID,
        &admin("general"),
        actions::enroll(patient.public_key().to_bytes().to_vec()),
    )
    .await;
    send(
        &general,
        CHAIN_ID,
        &patient,
        Kind::RegisterPatient(RegisterPatient::default()),
    )
    .await;
    let anchored = send(
        &general,
        CHAIN_ID,
        &patient,
        actions::anchor("note-checkpointed", &patient, Category::Notes),
    )
    .await;
    let height: u64 = anchored.height.parse().unwrap();

    // Two of four is not more than two thirds; a stranger is no signer.
    let two = attest(&first, &["general", "north"], height).await;
    let refused = contract.submit(&admin("north"), &two).await.unwrap_err();
    assert!(
        matches!(&refused, CheckpointError::Eth(EthError::Reverted { reason, .. }) if reason.starts_with("NotEnoughPower")),
        "{refused}"
    );
    let mut with_stranger = two.clone();
    let stranger = SecretKey::from_seed("not a member");
    let app_hash: [u8; 32] = hex::decode(&two[0].app_hash).unwrap().try_into().unwrap();
    with_stranger.push(Attestation::sign(&stranger, CHAIN_ID, height, &app_hash));
    let refused = contract
        .submit(&admin("north"), &with_stranger)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, CheckpointError::Eth(EthError::Reverted { reason, .. }) if reason.starts_with("NotASigner")),
        "{refused}"
    );

    // Three of four, each having checked the header itself; North writes it.
    let three = attest(&first, &["general", "north", "south"], height).await;
    let written = contract.submit(&admin("north"), &three).await.unwrap();
    println!(
        "a checkpoint signed by three of four: {} gas",
        written.gas_used
    );
    let latest = contract.latest().await.unwrap();
    assert_eq!((latest.height, latest.app_hash), (height, app_hash));
    let again = contract.submit(&admin("north"), &three).await.unwrap_err();
    assert!(
        matches!(&again, CheckpointError::Eth(EthError::Reverted { reason, .. }) if reason.starts_with("AlreadyCheckpointed")),
        "{again}"
    );

    // Proven from Ethereum alone, through East's node.
    let east = first.nodes[3].rpc();
    let ciphertext = sha256(b"note-checkpointed");
    let v = checkpoints::verify_record(&contract, &east, "note-checkpointed", Some(&ciphertext))
        .await
        .unwrap();
    assert_eq!(v.checkpoint.height, height);
    assert_eq!(v.anchor.height as u64, height);
    assert!(matches!(
        checkpoints::verify_record(&contract, &east, "note-checkpointed", Some(&[0u8; 32])).await,
        Err(CheckpointError::OtherCiphertext { .. })
    ));
    assert!(matches!(
        checkpoints::verify_record(&contract, &east, "never-anchored", None).await,
        Err(CheckpointError::NotAnchored { .. })
    ));

    // A verifier who must not be shown what a reorganisation could undo
    // reads Ethereum's finalized state: there the checkpoint counts once
    // the block that wrote it is final (geth --dev finalizes every 32
    // blocks, a block a second here).
    let finalized = CheckpointContract::at(eth.clone(), contract.address, BlockTag::Finalized);
    let early = finalized.latest().await;
    // Finality only moves forward: final below the checkpoint's block now,
    // it was when the read ran.
    if eth.block_number(BlockTag::Finalized).await.unwrap() < written.block_number {
        assert!(
            matches!(
                early,
                Err(CheckpointError::NoCheckpoint { .. } | CheckpointError::NotThereYet { .. })
            ),
            "{early:?}"
        );
    }
    let waiting = std::time::Instant::now();
    let deadline = waiting + std::time::Duration::from_secs(150);
    while eth.block_number(BlockTag::Finalized).await.unwrap() < written.block_number {
        assert!(
            std::time::Instant::now() < deadline,
            "geth --dev finalizes no block\n{}",
            geth.log_tail(20)
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let v = checkpoints::verify_record(&finalized, &east, "note-checkpointed", Some(&ciphertext))
        .await
        .unwrap();
    assert_eq!(v.checkpoint.height, height);
    println!(
        "the checkpoint proves the record in Ethereum's finalized state {:.0} s after it was written",
        waiting.elapsed().as_secs_f64()
    );
    // Every checkpoint the contract wrote (one so far), found through its
    // events, agrees with East's headers: in the latest state and in the
    // finalized one, the verifier's default.
    for reader in [&contract, &finalized] {
        let audit = checkpoints::audit(reader, &east, &[]).await.unwrap();
        assert_eq!(
            (audit.compared, audit.findings),
            (1, vec![]),
            "{:?}",
            reader.reads
        );
    }
    // A height the contract never checkpointed is said to be unchecked, not
    // passed over in silence.
    let audit = checkpoints::audit(&contract, &east, &[height + 1])
        .await
        .unwrap();
    assert!(
        matches!(audit.findings.as_slice(), [Finding::Unchecked { height: h, reason }] if *h == height + 1 && reason.contains("no checkpoint")),
        "{:?}",
        audit.findings
    );
    // An Ethereum node that leaves the events out cannot pass its list off
    // as complete: its own state names a checkpoint the events lack.
    let forgetful = CheckpointContract::at(
        EthClient::new(&forgetful_ethereum_node(&geth.url).await),
        contract.address,
        BlockTag::Latest,
    );
    assert_eq!(
        forgetful.latest().await.unwrap(),
        contract.latest().await.unwrap(),
        "the proxy answers the state as geth does"
    );
    let partial = checkpoints::audit(&forgetful, &east, &[])
        .await
        .unwrap_err();
    assert!(
        partial
            .to_string()
            .contains("leave out what its state holds"),
        "{partial}"
    );

    // A later checkpoint, on demand: one more app hash stored.
    let later = general.latest_height().await.unwrap();
    let signed = attest(&first, &["general", "north", "south"], later).await;
    let written = contract.submit(&admin("general"), &signed).await.unwrap();
    println!(
        "a later checkpoint signed by three of four: {} gas",
        written.gas_used
    );
    assert_eq!(contract.latest().await.unwrap().height, later);

    // East renews its key: three of the four sign the new set, and the
    // same signatures cannot move the set again (they signed its nonce).
    let renewed = SecretKey::from_seed("admin@east renewed");
    let mut new_set = signers.clone();
    new_set[3] = (EthAddress::of(&renewed.public_key()), 1);
    let nonce = contract.signer_set_nonce().await.unwrap();
    let here = contract.deployment().await.unwrap();
    let approvals: Vec<[u8; 65]> = ["general", "north", "south"]
        .iter()
        .map(|org| checkpoints::sign_signers(&admin(org), here, CHAIN_ID, nonce, &new_set))
        .collect();
    let too_few = contract
        .change_signers(&admin("north"), CHAIN_ID, &new_set, &approvals[..2])
        .await
        .unwrap_err();
    assert!(
        matches!(&too_few, CheckpointError::Eth(EthError::Reverted { reason, .. }) if reason.starts_with("NotEnoughPower")),
        "{too_few}"
    );
    contract
        .change_signers(&admin("north"), CHAIN_ID, &new_set, &approvals)
        .await
        .unwrap();
    let mut listed = contract.signers().await.unwrap();
    listed.sort();
    let mut expected = new_set.clone();
    expected.sort();
    assert_eq!(listed, expected);
    let replayed = contract
        .change_signers(&admin("north"), CHAIN_ID, &new_set, &approvals)
        .await
        .unwrap_err();
    assert!(
        matches!(&replayed, CheckpointError::Eth(EthError::Reverted { reason, .. }) if reason.starts_with("NotASigner")),
        "{replayed}"
    );

    // The history rewritten: the chain run again from a new genesis under
    // the same id, by the same members, without the record.
    first.stop();
    let second = founded(&dir.path().join("second")).await;
    let rewritten = second.nodes[1].rpc();
    ehr_testkit::cometbft::wait_height(&rewritten, height + 2, PATIENCE)
        .await
        .unwrap();
    let found = checkpoints::audit(&contract, &rewritten, &[height])
        .await
        .unwrap()
        .findings;
    let new_hash = match found.as_slice() {
        [Finding::Contradicted {
            height: h,
            checkpointed,
            served,
        }] => {
            assert_eq!((*h, *checkpointed), (height, app_hash));
            *served
        }
        other => panic!("the node's other history is not caught: {other:?}"),
    };
    // Audited whole, both checkpoints are compared: the first contradicted,
    // the later one contradicted too or not yet reached by the new chain.
    let whole = checkpoints::audit(&contract, &rewritten, &[])
        .await
        .unwrap();
    assert!(whole.compared >= 1, "{whole:?}");
    assert!(whole.rewritten());
    assert!(
        whole.findings.iter().all(|f| match f {
            Finding::Contradicted { height: h, .. } => *h == height || *h == later,
            Finding::Unchecked { height: h, .. } => *h == later,
            Finding::TwoHistories { .. } => false,
        }) && whole
            .findings
            .iter()
            .any(|f| matches!(f, Finding::Contradicted { height: h, .. } if *h == height)),
        "{:?}",
        whole.findings
    );
    assert!(
        checkpoints::verify_record(&contract, &rewritten, "note-checkpointed", None)
            .await
            .is_err(),
        "a node of the other history cannot prove the record against the checkpoint"
    );

    // More than two thirds sign the new history at the same height: the
    // contract keeps the first, records the second, and says so.
    let colluding = attest(&second, &["general", "north", "south"], height).await;
    assert_eq!(colluding[0].app_hash, hex::encode(new_hash));
    contract
        .submit(&admin("general"), &colluding)
        .await
        .unwrap();
    assert_eq!(contract.first_conflict().await.unwrap(), Some(height));
    assert_eq!(contract.app_hash_at(height).await.unwrap(), Some(app_hash));
    // A contract whose signers signed two histories proves nothing more.
    assert!(matches!(
        checkpoints::verify_record(&contract, &rewritten, "note-checkpointed", None).await,
        Err(CheckpointError::InDispute { .. })
    ));
    let found = checkpoints::audit(&contract, &rewritten, &[height])
        .await
        .unwrap()
        .findings;
    assert!(
        found.contains(&Finding::TwoHistories {
            height,
            first: app_hash,
            second: new_hash,
        }),
        "{found:?}"
    );
    println!("{}", found[0]);
    // Audited whole, the second history is found through the contract's
    // events and told once, however the audit came to it.
    let whole = checkpoints::audit(&contract, &rewritten, &[])
        .await
        .unwrap();
    let twice: Vec<&Finding> = whole
        .findings
        .iter()
        .filter(|f| matches!(f, Finding::TwoHistories { .. }))
        .collect();
    assert_eq!(
        twice,
        vec![&Finding::TwoHistories {
            height,
            first: app_hash,
            second: new_hash,
        }]
    );
}
