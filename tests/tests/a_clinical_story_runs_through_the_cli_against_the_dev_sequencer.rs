//! End to end, with real processes: `ehr-node genesis` writes a four-hospital
//! genesis, `ehr-node dev` runs it, and the `ehr` CLI carries a clinical story
//! through it — staff, patients, consent, a lab order and its result, a
//! prescription dispensed until exhausted, refusals with their codes, an
//! emergency access in the audit trail, a revocation — and the sequencer,
//! killed with SIGKILL, restarts where it was.

mod common;

use std::process::Command;

use ehr_ledger::mock_consensus::validator_key;

use common::cli::*;

#[test]
fn a_clinical_story_from_genesis_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Env {
        keys: dir.path().join("keys"),
        node: String::new(),
    };
    let people = [
        "admin-general",
        "admin-north",
        "admin-south",
        "admin-east",
        "doctor",
        "nurse",
        "pharmacist",
        "labtech",
        "gateway",
        "alice",
        "bob",
    ];
    for name in people {
        assert!(env.ok(&["keys", "generate", name]).contains("ehr1"));
    }
    // Key files are private, and their secrets are never printed.
    let file = env.keys.join("keys/alice.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let secret =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&file).unwrap())
            .unwrap()["secret_key"]
            .as_str()
            .unwrap()
            .to_string();
    let listed = env.ok(&["keys", "list"])
        + &env.ok(&["keys", "show", "alice"])
        + &env.ok(&["keys", "list", "--json"]);
    assert!(!listed.contains(&secret), "a secret key was printed");

    // Genesis of four hospitals, written by ehr-node.
    let genesis = dir.path().join("genesis.json");
    let mut args: Vec<String> = vec![
        "genesis".into(),
        "--chain-id".into(),
        "ehr-e2e".into(),
        "--out".into(),
        genesis.display().to_string(),
    ];
    for org in ["general", "north", "south", "east"] {
        args.push("--member".into());
        args.push(format!(
            "{org}={org} hospital={}",
            env.public_key(&format!("admin-{org}"))
        ));
        args.push("--validator".into());
        args.push(format!("{}=10={org}", hex::encode(validator_key(org))));
    }
    let out = Command::new(binary("ehr-node"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let node_home = dir.path().join("node");
    // Port 0: the sequencer picks a free port and says which.
    let dev = start_dev(&node_home, Some(&genesis), "127.0.0.1:0");
    env.node = dev.1.clone();
    let status = env.ok(&["status"]);
    assert!(
        status.contains("chain ehr-e2e") && status.contains("not BFT"),
        "{status}"
    );

    // Hospitals register staff and services; patients register.
    env.tx(
        "admin-general",
        &["register-staff", "--key", "doctor", "--role", "doctor"],
    );
    env.tx(
        "admin-general",
        &["register-staff", "--key", "nurse", "--role", "nurse"],
    );
    env.tx(
        "admin-general",
        &[
            "register-staff",
            "--key",
            "pharmacist",
            "--role",
            "pharmacist",
        ],
    );
    env.tx(
        "admin-general",
        &["register-service", "--key", "gateway", "--kind", "gateway"],
    );
    env.tx(
        "admin-north",
        &[
            "register-staff",
            "--key",
            "labtech",
            "--role",
            "lab-technician",
        ],
    );
    // A patient registers once General's front desk enrolled their key.
    let refused = env.ehr(&["tx", "--from", "alice", "register-patient"]);
    assert!(
        refused.stdout.contains("(NotEnrolled)"),
        "{}",
        refused.stdout
    );
    env.tx("admin-general", &["enroll-patient", "--key", "alice"]);
    env.tx("admin-general", &["enroll-patient", "--key", "bob"]);
    env.tx("alice", &["register-patient"]);
    env.tx("bob", &["register-patient"]);
    let participant = env.ok(&["query", "participant", "doctor"]);
    assert!(
        participant.contains("ROLE_DOCTOR") && participant.contains("\"org_id\": \"general\""),
        "{participant}"
    );

    // Consent, then a lab order fulfilled by north's lab.
    env.tx(
        "alice",
        &[
            "grant",
            "--patient",
            "alice",
            "--clinician",
            "doctor",
            "--category",
            "labs",
            "--category",
            "medications",
            "--access",
            "write",
            "--expires-in",
            "30d",
        ],
    );
    assert!(env
        .ok(&["query", "access", "alice", "doctor", "labs"])
        .starts_with("allowed (ACCESS_BASIS_GRANT)"));
    let ordered = env.tx(
        "doctor",
        &[
            "order-lab",
            "--patient",
            "alice",
            "--lab",
            "north",
            // The order itself is stored encrypted by the hospital's system
            // (the gateway stores it in the gateway's tests): its hash here.
            "--stored-id",
            "order-1",
            "--stored-sha256",
            &hex::encode([5u8; 32]),
            "--stored-size",
            "300",
            "--stored-locator",
            "ehr://general/orders/order-1",
        ],
    );
    assert!(
        ordered.contains("accepted in block") && ordered.contains("order_id=1"),
        "{ordered}"
    );
    let sha = hex::encode([7u8; 32]);
    env.tx(
        "labtech",
        &[
            "post-lab-result",
            "--order",
            "1",
            "--record-id",
            "lab-1",
            "--patient",
            "alice",
            "--category",
            "labs",
            "--sha256",
            &sha,
            "--size",
            "2048",
            "--locator",
            "pg://records/lab-1",
        ],
    );
    let order: serde_json::Value =
        serde_json::from_str(&env.ok(&["query", "order", "1", "--json"])).unwrap();
    assert_eq!(order["status"], "ORDER_STATUS_FULFILLED");
    assert_eq!(order["result_record_id"], "lab-1");
    assert!(order["patient"].as_str().unwrap().starts_with("ehr1"));

    // A prescription with one refill: two fills at the pharmacy alice
    // chose, then refused.
    let stored_rx = |id: &str| {
        [
            "--stored-id".to_string(),
            id.to_string(),
            "--stored-sha256".into(),
            hex::encode([6u8; 32]),
            "--stored-size".into(),
            "400".into(),
            "--stored-locator".into(),
            format!("ehr://general/prescriptions/{id}"),
        ]
    };
    let mut args: Vec<String> = ["prescribe", "--patient", "alice", "--refills", "1"]
        .map(String::from)
        .to_vec();
    args.extend(stored_rx("rx-1"));
    let rx = env.tx(
        "doctor",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(rx.contains("prescription_id=1"), "{rx}");
    let elsewhere = env.ehr(&["tx", "--from", "pharmacist", "dispense", "1"]);
    assert!(
        elsewhere.stdout.contains("(NoAccess)"),
        "a pharmacy alice did not choose: {}",
        elsewhere.stdout
    );
    env.tx(
        "alice",
        &[
            "grant",
            "--patient",
            "alice",
            "--org",
            "general",
            "--category",
            "medications",
            "--expires-in",
            "30d",
        ],
    );
    env.tx("pharmacist", &["dispense", "1"]);
    env.tx("pharmacist", &["dispense", "1"]);
    let third = env.ehr(&["tx", "--from", "pharmacist", "dispense", "1"]);
    assert_eq!(third.code, 1);
    assert!(
        third.stdout.contains("code 92 (PrescriptionExhausted)"),
        "{}",
        third.stdout
    );

    // A nurse may not prescribe: refused at the node's check, with the code.
    let mut args: Vec<String> = ["tx", "--from", "nurse", "prescribe", "--patient", "alice"]
        .map(String::from)
        .to_vec();
    args.extend(stored_rx("rx-2"));
    let nurse = env.ehr(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(nurse.code, 1);
    assert!(
        nurse.stdout.contains("code 33 (WrongRole)")
            && nurse.stdout.contains("only a doctor may prescribe"),
        "{}",
        nurse.stdout
    );

    // Break-glass on bob: in his trail at once. (Reads under it are logged by
    // the gateway that serves them, with the doctor's signed request: the
    // read-path tests show them.)
    env.tx(
        "doctor",
        &[
            "emergency",
            "--patient",
            "bob",
            "--reason",
            "unconscious",
            "--justification",
            "brought in unresponsive",
        ],
    );
    let audit = env.ok(&["query", "audit", "bob"]);
    assert_eq!(audit.lines().count(), 1, "{audit}");
    assert!(audit.lines().all(|l| l.contains("[EMERGENCY]")), "{audit}");
    assert!(
        audit.contains("opened emergency access: brought in unresponsive"),
        "{audit}"
    );

    // Revocation: from the next block on, the doctor reads nothing of alice's.
    env.tx(
        "alice",
        &["revoke", "--patient", "alice", "--clinician", "doctor"],
    );
    let access = env.ehr(&["query", "access", "alice", "doctor", "labs"]);
    assert_eq!(access.code, 1);
    assert!(
        access.stdout.starts_with("not allowed"),
        "{}",
        access.stdout
    );

    // Governance through the CLI: a fifth hospital joins with 3 of 4.
    env.ok(&["keys", "generate", "admin-west"]);
    let west_key = env.public_key("admin-west");
    env.tx(
        "admin-general",
        &[
            "propose",
            "add-member",
            "--org",
            "west",
            "--name",
            "West Clinic",
            "--admin-key",
            &west_key,
        ],
    );
    env.tx("admin-north", &["vote", "1", "approve"]);
    let decided = env.tx("admin-south", &["vote", "1", "approve"]);
    assert!(decided.contains("accepted"), "{decided}");
    assert!(env
        .ok(&["query", "organisation", "west"])
        .contains("MEMBER_STATUS_ACTIVE"));

    // The sequencer dies with SIGKILL and comes back where it was.
    let before: serde_json::Value = serde_json::from_str(&env.ok(&["status", "--json"])).unwrap();
    let height_before: u64 = before["sync_info"]["latest_block_height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let commit = env.ok(&[
        "tx",
        "--from",
        "alice",
        "research-consent",
        "--patient",
        "alice",
        "on",
        "--json",
    ]);
    let hash = serde_json::from_str::<serde_json::Value>(&commit).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let mut dev = dev;
    dev.0.kill().unwrap();
    dev.0.wait().unwrap();
    drop(dev);
    let restarted = start_dev(&node_home, None, "127.0.0.1:0");
    env.node = restarted.1.clone();
    let after: serde_json::Value = serde_json::from_str(&env.ok(&["status", "--json"])).unwrap();
    let height_after: u64 = after["sync_info"]["latest_block_height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(height_after > height_before);
    let found = env.ok(&["query", "tx", &hash]);
    assert!(found.contains("\"code\": 0"), "{found}");
    assert!(env
        .ok(&["query", "participant", "alice"])
        .contains("\"research_consent\": true"));
}
