//! A service's key speaks for its hospital on chain (it anchors records, logs
//! disclosures, opens the break-glass escrow). A key file other local users
//! can read is refused at start, with what to do, by ingest and the gateway
//! alike — as ssh refuses such a key — and the same file made private works.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use ehr_testkit::stack::*;

/// Runs `service` with `key_file` against nothing that answers: it stops at
/// its first check that fails. Its exit and what it said.
fn start(service: &str, key_file: &std::path::Path, dir: &std::path::Path) -> (bool, String) {
    let secret = dir.join("pseudonym.secret");
    ehr_client::service::write_private_file(&secret, PSEUDONYM_SECRET.as_bytes()).unwrap();
    let out = Command::new(binary(service))
        .arg("--key-file")
        .arg(key_file)
        .args(["--node", "http://127.0.0.1:1", "--trust-dev-sequencer"])
        .args(["--database-url", "postgres://nobody:x@127.0.0.1:1/none"])
        .args(if service == "ehr-ingest" {
            vec!["--brokers", "127.0.0.1:1", "--pseudonym-secret-file"]
        } else {
            vec!["--listen", "127.0.0.1:0"]
        })
        .args((service == "ehr-ingest").then_some(&secret))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("the service runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_key_file_others_can_read_is_refused_by_every_service() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("service-key.json");
    let json = serde_json::json!({ "secret_key": hex::encode(key("service@general").to_bytes()) });
    std::fs::write(&key_file, json.to_string()).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();

    for service in ["ehr-ingest", "ehr-gateway"] {
        let (ok, said) = start(service, &key_file, dir.path());
        assert!(!ok, "{service} started with a key others can read");
        assert!(
            said.contains("is readable by others") && said.contains("chmod 600"),
            "{service}: {said}"
        );
    }

    // Private, the key is taken: the services go on to their next check
    // (the chain or the database, which are not there here).
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    for service in ["ehr-ingest", "ehr-gateway"] {
        let (ok, said) = start(service, &key_file, dir.path());
        assert!(!ok);
        assert!(!said.contains("readable by others"), "{service}: {said}");
    }
}
