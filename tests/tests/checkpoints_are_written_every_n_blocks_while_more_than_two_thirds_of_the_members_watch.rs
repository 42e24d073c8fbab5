//! Automatic checkpoints (a real `geth --dev` beside four real validators):
//! three hospitals each run `ehr ethereum watch` against their own node. Each
//! signs every fifth height its light client checked and posts the signature
//! on the consortium's chain, where they meet; once three of four signed the
//! same app hash, the member whose turn it is writes the checkpoint to
//! Ethereum. With one watcher killed, two of four are not enough: the
//! checkpoints stop, and resume when it is back. A key that is no admin gets
//! its attestations refused with the reason, and stops nobody; a watcher for
//! a contract of another chain refuses to start.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cli::Env;
use common::*;
use ehr_client::ethereum::checkpoints::CheckpointContract;
use ehr_client::ethereum::{EthAddress, EthClient};
use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::CheckpointAttestationList;
use ehr_testkit::cometbft::{Network, Settings};
use ehr_testkit::ethereum::Geth;
use ehr_testkit::processes::Proc;

const CHAIN_ID: &str = "ehr-watched";
const EVERY: u64 = 5;
const ONE_ETHER: u128 = 1_000_000_000_000_000_000;

/// A key folder holding `key` as `name`.
fn keyring(dir: &Path, name: &str, key: &SecretKey) {
    let env = Env {
        keys: dir.join(format!("home-{name}")),
        node: String::new(),
    };
    std::fs::create_dir_all(&env.keys).unwrap();
    let secret = env.keys.join("secret");
    std::fs::write(&secret, hex::encode(key.to_bytes())).unwrap();
    env.ok(&["keys", "import", name, secret.to_str().unwrap()]);
    std::fs::remove_file(secret).unwrap();
}

/// `ehr ethereum watch` as the member `name`, against `node`.
fn watch(
    dir: &Path,
    network: &Network,
    node: usize,
    name: &str,
    geth: &Geth,
    contract: &EthAddress,
) -> Proc {
    let env = Env {
        keys: dir.join(format!("home-{name}")),
        node: network.nodes[node].rpc_url(),
    };
    let mut cmd = env.command();
    cmd.arg("--genesis")
        .arg(&network.genesis)
        .args(["ethereum", "--eth", &geth.url, "watch", "--key", name])
        .args([
            "--contract",
            &contract.to_string(),
            "--every",
            &EVERY.to_string(),
        ])
        .args(["--grace", "1", "--poll", "0.3"]);
    Proc::spawn_logging(&format!("watch-{name}"), cmd, dir).unwrap()
}

fn log(p: &Proc) -> String {
    std::fs::read_to_string(&p.log).unwrap_or_default()
}

/// Waits until one of `watchers` has said `line`.
fn said(watchers: &[Proc], line: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !watchers.iter().any(|w| log(w).contains(line)) {
        assert!(
            Instant::now() < deadline,
            "no watcher said {line:?}:\n{}",
            watchers.iter().map(log).collect::<Vec<_>>().join("\n---\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The newest checkpoint's height (0: none yet).
async fn checkpointed(contract: &CheckpointContract) -> u64 {
    contract.latest().await.map_or(0, |c| c.height)
}

/// Waits until the contract holds a checkpoint of `height` or later.
async fn until_checkpointed(contract: &CheckpointContract, height: u64, watchers: &[&Proc]) -> u64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let at = checkpointed(contract).await;
        if at >= height {
            return at;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint of height {height} within {PATIENCE:?} (newest {at}); the watchers said:\n{}",
            watchers.iter().map(|w| log(w)).collect::<Vec<_>>().join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The contract's app hash after `height` is the one in header `height + 1`.
async fn matches_the_chain(contract: &CheckpointContract, rpc: &RpcClient, height: u64) {
    let held = contract
        .app_hash_at(height)
        .await
        .unwrap()
        .expect("a checkpoint");
    assert_eq!(
        hex::encode_upper(held),
        app_hash_at(rpc, height + 1).await.to_uppercase(),
        "checkpoint {height}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_are_written_every_n_blocks_while_more_than_two_thirds_of_the_members_watch() {
    let dir = tempfile::tempdir().unwrap();
    let geth = Geth::start(dir.path()).unwrap_or_else(|e| panic!("geth starts: {e}"));
    let eth = EthClient::new(&geth.url);
    let network = four_hospitals_with(
        &dir.path().join("chain"),
        Settings {
            chain_id: Some(CHAIN_ID.into()),
            ..Settings::default()
        },
    )
    .await;
    let general = network.nodes[0].rpc();
    let watching = ["general", "north", "south"];
    for org in watching {
        eth.fund_from_dev_account(&EthAddress::of(&admin(org).public_key()), ONE_ETHER)
            .await
            .unwrap_or_else(|e| panic!("funding {org}: {e}\n{}", geth.log_tail(20)));
        keyring(dir.path(), org, &admin(org));
    }
    let signers: Vec<(EthAddress, u64)> = HOSPITALS
        .iter()
        .map(|org| (EthAddress::of(&admin(org).public_key()), 1))
        .collect();
    let (contract, _) =
        CheckpointContract::deploy(eth.clone(), &admin("general"), CHAIN_ID, &signers)
            .await
            .unwrap();

    // A contract of another chain: the watcher says so and stops.
    let (elsewhere, _) =
        CheckpointContract::deploy(eth.clone(), &admin("general"), "another-chain", &signers)
            .await
            .unwrap();
    let mut wrong = watch(
        dir.path(),
        &network,
        0,
        "general",
        &geth,
        &elsewhere.address,
    );
    let deadline = Instant::now() + PATIENCE;
    while wrong.is_running() {
        assert!(
            Instant::now() < deadline,
            "a watcher of another chain's contract kept running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(log(&wrong).contains("another chain"), "{}", log(&wrong));

    // Three hospitals watch, each through its own node.
    let mut watchers: Vec<Proc> = watching
        .iter()
        .enumerate()
        .map(|(i, org)| watch(dir.path(), &network, i, org, &geth, &contract.address))
        .collect();
    // A key that is no admin (a stranger's, funded by nobody).
    let stranger = SecretKey::from_seed("not an admin");
    keyring(dir.path(), "stranger", &stranger);
    let intruder = watch(
        dir.path(),
        &network,
        3,
        "stranger",
        &geth,
        &contract.address,
    );

    let first =
        until_checkpointed(&contract, 2 * EVERY, &watchers.iter().collect::<Vec<_>>()).await;
    assert_eq!(
        first % EVERY,
        0,
        "only multiples of {EVERY} are checkpointed"
    );
    matches_the_chain(&contract, &general, first).await;
    let attested = general
        .query_all::<CheckpointAttestationList>("/attestations")
        .await
        .unwrap();
    let mut orgs: Vec<&str> = attested.iter().map(|a| a.org_id.as_str()).collect();
    orgs.sort();
    assert_eq!(
        orgs,
        ["general", "north", "south"],
        "one attestation per watching member"
    );
    // The writer says so once its receipt is in.
    said(&watchers, "wrote the checkpoint of height");
    let intruders = [intruder];
    said(&intruders, "refused");
    assert!(
        log(&intruders[0]).contains("admin"),
        "the stranger's attestation is refused with the reason:\n{}",
        log(&intruders[0])
    );
    let [mut intruder] = intruders;
    intruder.stop(Duration::from_secs(5));

    // North's watcher dies: two of four signing power is not more than two
    // thirds. No height North did not sign is checkpointed, however many
    // blocks go by, while General and South sign on.
    watchers[1].kill_9();
    let general_said = log(&watchers[0]).len();
    let attested_by = |org: &'static str| {
        let general = general.clone();
        async move {
            general
                .query_all::<CheckpointAttestationList>("/attestations")
                .await
                .unwrap()
                .iter()
                .filter(|a| a.org_id == org)
                .map(|a| a.height)
                .max()
                .unwrap_or(0)
        }
    };
    let past = general.latest_height().await.unwrap() + 3 * EVERY;
    ehr_testkit::cometbft::wait_height(&general, past, PATIENCE)
        .await
        .unwrap();
    // Read once North is long dead: an attestation it sent just before the
    // kill has landed by now (and may have made one more checkpoint).
    let north_last = attested_by("north").await;
    let held = checkpointed(&contract).await;
    let general_last = attested_by("general").await;
    assert!(
        general_last > north_last,
        "General signed on past North's last height ({general_last} after {north_last})"
    );
    assert!(
        held <= north_last,
        "with two of four watching, only a height North had signed may land: {held} after North's {north_last}"
    );
    // General says why it waits, since the kill.
    let deadline = Instant::now() + PATIENCE;
    let since_kill = |w: &Proc| log(w).get(general_said..).unwrap_or_default().to_string();
    while !since_kill(&watchers[0]).contains("more than two thirds are needed") {
        assert!(
            Instant::now() < deadline,
            "General never said why it waits:\n{}",
            since_kill(&watchers[0])
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // North is back: the checkpoints go on.
    watchers[1] = watch(dir.path(), &network, 1, "north", &geth, &contract.address);
    let resumed = until_checkpointed(
        &contract,
        held + EVERY,
        &watchers.iter().collect::<Vec<_>>(),
    )
    .await;
    matches_the_chain(&contract, &general, resumed).await;
    println!(
        "checkpoints every {EVERY} blocks: {first} written by the watchers, stalled at {held} with two of four, {resumed} after North came back"
    );
    for w in &mut watchers {
        w.stop(Duration::from_secs(5));
    }
}
