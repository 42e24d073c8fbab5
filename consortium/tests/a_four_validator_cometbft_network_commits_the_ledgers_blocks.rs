//! A real CometBFT v0.38 network of four validators (`cometbft testnet`), each
//! with its own `ehr-node start` over a Unix socket, on 127.0.0.1–127.0.0.4.
//! Transactions go in through one validator and are read through another; one
//! hospital is killed and the other three go on; it comes back to the same app
//! hash. Runs when a `cometbft` binary is found (CMT_BIN or PATH), and says it
//! was skipped otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ehr_consortium::chain::{cometbft, configure_local_node};
use ehr_ledger::mock_consensus::Actor;
use ehr_ledger::proto::{action::Kind, Participant, RegisterStaff, Role};
use ehr_ledger::rpc::RpcClient;
use ehr_ledger::tx::sign_tx;

const HOSPITALS: [&str; 4] = ["general", "north", "south", "east"];

struct Hospital {
    home: PathBuf,
    ip: String,
    app: Option<Child>,
    cmt: Option<Child>,
}

impl Hospital {
    fn start(&mut self, cmt: &Path) {
        let socket = format!("unix://{}/abci.sock", self.home.display());
        let log = |name: &str| std::fs::File::create(self.home.join(name)).unwrap();
        self.app = Some(
            Command::new(ehr_consortium::binary("ehr-node").unwrap())
                .args([
                    "start",
                    "--home",
                    self.home.join("ehr").to_str().unwrap(),
                    "--abci",
                    &socket,
                ])
                .stdout(Stdio::null())
                .stderr(log("ehr-node.log"))
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.home.join("abci.sock").exists() {
            assert!(
                Instant::now() < deadline,
                "ehr-node did not open its socket"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.cmt = Some(
            Command::new(cmt)
                .args(["start", "--home", self.home.to_str().unwrap()])
                .stdout(log("cometbft.log"))
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }

    fn kill(&mut self) {
        for child in [self.cmt.take(), self.app.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn rpc(&self) -> RpcClient {
        RpcClient::new(&format!("http://{}:26657", self.ip))
    }
}

impl Drop for Hospital {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn height(rpc: &RpcClient) -> u64 {
    rpc.latest_height().await.unwrap_or(0)
}

async fn wait_height(rpc: &RpcClient, at_least: u64, what: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let h = height(rpc).await;
        if h >= at_least {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: stuck at height {h}, wanted {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn app_hash_at(rpc: &RpcClient, h: u64) -> String {
    rpc.block(Some(h))
        .await
        .expect("block")
        .block
        .header
        .app_hash
}

#[tokio::test(flavor = "multi_thread")]
async fn four_validators_on_cometbft_commit_the_same_ledger() {
    let Some(cmt) = cometbft() else {
        eprintln!(
            "SKIPPED four_validators_on_cometbft_commit_the_same_ledger: no cometbft binary \
             (set CMT_BIN or put a CometBFT v0.38 `cometbft` on PATH to run it)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let status = Command::new(&cmt)
        .args([
            "testnet",
            "--v",
            "4",
            "--o",
            net.to_str().unwrap(),
            "--starting-ip-address",
            "127.0.0.1",
            "--populate-persistent-peers",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "cometbft testnet failed");

    let admin_of = |org: &str| Actor::new(&format!("admin@{org}"), "");
    let mut args = vec![
        "genesis".to_string(),
        "--cometbft-genesis".into(),
        net.join("node0/config/genesis.json").display().to_string(),
    ];
    for org in HOSPITALS {
        args.push("--member".into());
        args.push(format!(
            "{org}={org} hospital={}",
            hex::encode(admin_of(org).public_key())
        ));
    }
    args.extend([
        "--out".into(),
        net.join("genesis.json").display().to_string(),
    ]);
    let out = Command::new(ehr_consortium::binary("ehr-node").unwrap())
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut hospitals: Vec<Hospital> = (0..4)
        .map(|i| {
            let home = net.join(format!("node{i}"));
            let ip = format!("127.0.0.{}", i + 1);
            configure_local_node(&home, &ip, &net.join("genesis.json")).unwrap();
            Hospital {
                home,
                ip,
                app: None,
                cmt: None,
            }
        })
        .collect();
    for h in &mut hospitals {
        h.start(&cmt);
    }
    let (entry, other) = (hospitals[0].rpc(), hospitals[2].rpc());
    wait_height(&entry, 2, "the network starting").await;
    let chain_id = entry.status().await.unwrap().node_info.network;

    // A transaction through general's validator, read through south's.
    let admin = ehr_ledger::crypto::SecretKey::from_seed("admin@general");
    let doctor = ehr_ledger::crypto::SecretKey::from_seed("doctor@general");
    let register = Kind::RegisterStaff(RegisterStaff {
        public_key: doctor.public_key().to_bytes().to_vec(),
        role: Role::Doctor as i32,
    });
    let r = entry
        .broadcast_tx_commit(&sign_tx(&admin, &chain_id, 1, register))
        .await
        .unwrap();
    assert_eq!(r.check_tx.code, 0, "{}", r.check_tx.log);
    assert_eq!(r.tx_result.code, 0, "{}", r.tx_result.log);
    let included: u64 = r.height.parse().unwrap();
    wait_height(&other, included, "south following").await;
    let seen: Option<Participant> = other
        .query(&format!("/participant/{}", doctor.address()))
        .await
        .unwrap();
    assert_eq!(
        seen.expect("registered on every validator").role,
        Role::Doctor as i32
    );

    // East goes down (kill -9 of both its processes); three of four go on.
    hospitals[3].kill();
    let now = height(&entry).await;
    wait_height(&entry, now + 3, "three validators going on").await;
    let nurse = ehr_ledger::crypto::SecretKey::from_seed("nurse@general");
    let register = Kind::RegisterStaff(RegisterStaff {
        public_key: nurse.public_key().to_bytes().to_vec(),
        role: Role::Nurse as i32,
    });
    let r = entry
        .broadcast_tx_commit(&sign_tx(&admin, &chain_id, 2, register))
        .await
        .unwrap();
    assert_eq!(r.tx_result.code, 0, "{}", r.tx_result.log);

    // East comes back: CometBFT's handshake replays what its ledger lacks.
    hospitals[3].start(&cmt);
    let east = hospitals[3].rpc();
    let target = height(&entry).await;
    wait_height(&east, target, "east catching up").await;
    assert_eq!(
        app_hash_at(&east, target).await,
        app_hash_at(&entry, target).await,
        "same app hash at height {target}"
    );
}
