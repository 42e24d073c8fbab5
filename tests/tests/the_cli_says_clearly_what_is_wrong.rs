//! The `ehr` CLI refuses bad input with a sentence that says what is wrong
//! and a non-zero exit code, never a panic.

mod common;

use common::cli::*;

#[test]
fn the_cli_says_clearly_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        keys: dir.path().to_path_buf(),
        // Port 1 is privileged: nothing of ours listens there.
        node: "http://127.0.0.1:1".into(),
    };
    let down = env.ehr(&["status"]);
    assert_eq!(down.code, 2);
    assert!(down.stderr.contains("cannot be reached"), "{}", down.stderr);
    let unknown = env.ehr(&["tx", "--from", "nobody", "dispense", "1"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no key named nobody"),
        "{}",
        unknown.stderr
    );
    env.ok(&["keys", "generate", "carol"]);
    let again = env.ehr(&["keys", "generate", "carol"]);
    assert!(
        again.code != 0 && again.stderr.contains("already exists"),
        "{}",
        again.stderr
    );
    let bad_name = env.ehr(&["keys", "generate", "../escape"]);
    assert!(
        bad_name.code != 0 && bad_name.stderr.contains("must be"),
        "{}",
        bad_name.stderr
    );
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join("keys/carol.json");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = env.ehr(&["tx", "--from", "carol", "dispense", "1"]);
    assert!(
        open.stderr.contains("readable by others"),
        "{}",
        open.stderr
    );
    std::fs::write(&path, "{ not json").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let broken = env.ehr(&["tx", "--from", "carol", "dispense", "1"]);
    assert!(
        broken.stderr.contains("is not a key file"),
        "{}",
        broken.stderr
    );
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "zz").unwrap();
    let import = env.ehr(&["keys", "import", "dave", secret_file.to_str().unwrap()]);
    assert!(
        import.code != 0 && import.stderr.contains("64 hex digits"),
        "{}",
        import.stderr
    );
    let bad_addr = env.ehr(&["query", "participant", "not-an-address"]);
    assert!(
        bad_addr.code != 0 && bad_addr.stderr.contains("neither an address"),
        "{}",
        bad_addr.stderr
    );

    // A node whose certificate another authority signed: said so, with what to do.
    let node = ehr_testkit::stack::Node::start(&dir.path().join("node"));
    let elsewhere = tempfile::tempdir().unwrap();
    let other = ehr_testkit::pki::Pki::create(elsewhere.path(), "another authority").unwrap();
    let out = std::process::Command::new(ehr_testkit::binary("ehr").unwrap())
        .args(["--node", &node.url, "--trust-dev-sequencer", "--ca-file"])
        .arg(&other.ca_file)
        .arg("status")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("--ca-file"),
        "{stderr}"
    );
    // And a CA file that is not one.
    let out = std::process::Command::new(ehr_testkit::binary("ehr").unwrap())
        .args(["--ca-file", "/nonexistent/ca.pem", "status"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(2) && stderr.contains("/nonexistent/ca.pem"),
        "{stderr}"
    );
}
