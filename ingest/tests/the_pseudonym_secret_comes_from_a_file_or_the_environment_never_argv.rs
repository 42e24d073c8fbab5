//! The analytics pseudonym secret re-identifies every research row to whoever
//! holds it: it has no default, and it is read from a file only its owner can
//! read or from the environment — never from the command line, which every
//! local user sees in the process list.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use ehr_testkit::stack::*;

fn ehr_ingest(dir: &std::path::Path, args: &[&str], env: Option<&str>) -> (bool, String) {
    let key_file = dir.join("ingest-key.json");
    ehr_client::service::write_private_file(
        &key_file,
        serde_json::json!({ "secret_key": hex::encode(key("ingest@general").to_bytes()) })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let mut c = Command::new(binary("ehr-ingest"));
    c.arg("--key-file")
        .arg(&key_file)
        .args(["--brokers", "127.0.0.1:1", "--node", "http://127.0.0.1:1"])
        // A database that is not there: the secret is checked before it.
        .args(["--database-url", "postgres://nobody:x@127.0.0.1:1/none"])
        // Nothing here is reached: the secret is checked before any link.
        .args(["--insecure-plaintext", "--kafka-insecure-plaintext"])
        .args(args)
        .env_remove("EHR_PSEUDONYM_SECRET")
        .env_remove("EHR_PSEUDONYM_SECRET_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(v) = env {
        c.env("EHR_PSEUDONYM_SECRET", v);
    }
    let out = c.output().expect("ehr-ingest runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_secret_on_the_command_line_and_none_by_default() {
    let dir = tempfile::tempdir().unwrap();
    // On the command line: not accepted at all.
    let (ok, err) = ehr_ingest(dir.path(), &["--pseudonym-secret", PSEUDONYM_SECRET], None);
    assert!(!ok);
    assert!(err.contains("--pseudonym-secret"), "{err}");
    // Nowhere: refused, saying where to put it.
    let (ok, err) = ehr_ingest(dir.path(), &[], None);
    assert!(!ok);
    assert!(
        err.contains("--pseudonym-secret-file")
            && err.contains("EHR_PSEUDONYM_SECRET")
            && err.contains("no default"),
        "{err}"
    );
    // A file others may read: refused.
    let file = dir.path().join("pseudonym.secret");
    std::fs::write(&file, PSEUDONYM_SECRET).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, err) = ehr_ingest(
        dir.path(),
        &["--pseudonym-secret-file", file.to_str().unwrap()],
        None,
    );
    assert!(!ok);
    assert!(err.contains("readable by others"), "{err}");
    // Too short, from the environment: refused.
    let (ok, err) = ehr_ingest(dir.path(), &[], Some("abcd"));
    assert!(!ok);
    assert!(err.contains("at least 32 bytes"), "{err}");
    // A good file gets past the secret (and stops at the missing database).
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (ok, err) = ehr_ingest(
        dir.path(),
        &["--pseudonym-secret-file", file.to_str().unwrap()],
        None,
    );
    assert!(!ok);
    assert!(err.contains("cannot prepare the database"), "{err}");
}

#[test]
fn a_running_ingest_shows_no_secret_in_its_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start();
    let db = database();
    let chain = Chain::start(&dir.path().join("chain"), 0);
    let cast = Cast::register(&chain);
    let ingest = Ingest::start(dir.path(), &broker, &db, &chain, &cast.ingest);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", ingest.pid())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("ehr-ingest"), "{cmdline}");
    assert!(!cmdline.contains(PSEUDONYM_SECRET), "{cmdline}");
}
