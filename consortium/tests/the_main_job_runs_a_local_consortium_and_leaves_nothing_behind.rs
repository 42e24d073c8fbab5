//! The main job, as README's first command runs it (here with a small fleet,
//! until Ctrl-C): the story's steps get their expected codes, readings are
//! stored and their batches are on chain, a record is fetched and verified,
//! the analyst sees de-identified rows, and after Ctrl-C every process is
//! gone. The chain it leaves behind is checked independently afterwards.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::MainJob;

use ehr_migrations::{database_url, with_database};
use serde_json::Value;

/// Processes whose working folder or command line is inside `dir`.
fn processes_in(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().to_string();
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let p = entry.path();
        if !p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            continue;
        }
        let cwd = std::fs::read_link(p.join("cwd"))
            .map(|c| c.to_string_lossy().to_string())
            .unwrap_or_default();
        let cmdline = std::fs::read(p.join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        if cwd.starts_with(&dir) || cmdline.contains(&dir) {
            found.push(format!("{}: {cmdline}", p.display()));
        }
    }
    found
}

#[test]
fn the_main_job_runs_a_local_consortium_and_leaves_nothing_behind() {
    let mut job = MainJob::start("main_job", &["--devices", "4", "--rate", "30"]);
    let (data, database) = (job.data.clone(), job.database.clone());

    // The story first; then a few seconds of steady work; then Ctrl-C.
    job.wait_for_line("The story is told", Duration::from_secs(240));
    std::thread::sleep(Duration::from_secs(8));
    let (status, out, err) = job.interrupt();
    assert!(status.success(), "exit {status:?}\n{out}\n{err}");
    assert!(out.contains("══ Summary ══"), "{out}");
    assert!(out.contains("every process stopped cleanly"), "{out}");

    // Nothing left running.
    let left = processes_in(job.dir.path());
    assert!(left.is_empty(), "left behind: {left:#?}");

    let summary: Value =
        serde_json::from_slice(&std::fs::read(data.join("summary.json")).unwrap()).unwrap();
    // The real engines ran: four CometBFT validators and Apache Kafka.
    assert!(
        summary["consensus"].as_str().unwrap().contains("CometBFT"),
        "{summary}"
    );
    assert!(
        summary["broker"].as_str().unwrap().contains("Apache Kafka"),
        "{summary}"
    );
    // Nothing died on its own: the supervisor restarted nothing, and every
    // check the summary proves from the data holds.
    assert_eq!(
        summary["restarts"].as_array().unwrap().len(),
        0,
        "{summary:#}"
    );
    for c in summary["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
    }
    let steps = summary["steps"].as_array().unwrap();
    assert!(steps.len() > 30);
    for s in steps {
        assert_eq!(s["ok"], true, "{s}");
    }
    let step = |needle: &str| {
        steps
            .iter()
            .find(|s| s["title"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no step {needle:?}"))
            .clone()
    };
    // General's EHR reads through its FHIR API, over mutual TLS, for the doctor.
    assert!(step("through its FHIR API")["got"]
        .as_str()
        .unwrap()
        .contains("a searchset Bundle of"));
    // Each patient's name is sealed by the front desk, none in clear on chain.
    assert!(step("seals patient-1's name")["ok"] == true);
    // The members' checkpointers wrote a checkpoint to Ethereum by themselves.
    assert!(step("checkpointers sign every")["got"]
        .as_str()
        .unwrap()
        .contains("attested on chain by three hospitals"));
    assert!(step("the nurse tries to prescribe")["got"]
        .as_str()
        .unwrap()
        .contains("WrongRole"));
    assert!(step("dispense it a second time")["got"]
        .as_str()
        .unwrap()
        .contains("PrescriptionExhausted"));
    assert!(step("the pharmacist dispenses it")["got"]
        .as_str()
        .unwrap()
        .starts_with("accepted"));
    assert!(step("lab technician posts the result")["got"]
        .as_str()
        .unwrap()
        .starts_with("accepted"));
    assert!(step("opens emergency access")["got"]
        .as_str()
        .unwrap()
        .starts_with("accepted"));
    assert!(step("after the revocation")["got"]
        .as_str()
        .unwrap()
        .contains("access_denied"));
    let read = step("the doctor reads patient-1's vitals")["got"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(read.contains("allowed by GRANT"), "{read}");
    assert!(!read.contains(" 0 verified against their anchor"), "{read}");
    assert!(step("audit trail shows")["ok"].as_bool().unwrap());

    // Readings: every one published is stored or refused with a reason.
    // Every link secured, as the summary says link by link.
    let links = summary["links"]
        .as_array()
        .expect("the summary lists the links");
    assert!(links.len() >= 7, "{summary}");
    for link in links {
        let security = link["security"].as_str().unwrap();
        assert!(
            !security.contains("PLAINTEXT"),
            "{} runs in plaintext",
            link["between"]
        );
    }
    assert!(
        out.contains("links "),
        "the terminal summary lists the links\n{out}"
    );
    let p = &summary["progress"];
    let published = summary["readings_published"].as_i64().unwrap();
    let bad = summary["misbehaving_published"].as_i64().unwrap();
    assert!(published > 100, "{summary}");
    assert_eq!(p["records"].as_i64().unwrap(), published - bad, "{summary}");
    assert_eq!(p["rejects"].as_i64().unwrap(), bad, "{summary}");
    assert!(p["batches_committed"].as_i64().unwrap() > 0);
    assert_eq!(p["batches_pending"], 0);
    assert_eq!(summary["batches_checked_on_chain"], p["batches_committed"]);
    assert!(p["analytics_rows"].as_i64().unwrap() > 0);
    assert!(!summary["analyst"]["by_code"].as_array().unwrap().is_empty());
    let refused = summary["analyst"]["records_refused"]
        .as_str()
        .expect("the analyst is refused the records");
    assert!(refused.contains("permission denied"), "{refused}");
    // The owner's password (DATABASE_URL's) is in neither the summary nor
    // the terminal, and the summary is its owner's only.
    use std::os::unix::fs::PermissionsExt;
    let owner = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| ehr_migrations::DEFAULT_DATABASE_URL.to_string());
    if let Some(password) = owner
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(login, _)| login.split_once(':'))
        .map(|(_, password)| format!(":{password}@"))
    {
        let text = std::fs::read_to_string(data.join("summary.json")).unwrap();
        for (what, shown) in [("summary.json", &text), ("stdout", &out), ("stderr", &err)] {
            assert!(
                !shown.contains(&password),
                "the owner's password is in {what}"
            );
        }
    }
    let mode = std::fs::metadata(data.join("summary.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "summary.json is readable by others");
    // The analyst's login: made for this run and this database, kept in a
    // file only its owner reads, its password nowhere in the terminal.
    let login = data.join("analyst.url");
    let mode = std::fs::metadata(&login).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "analyst.url is readable by others");
    // The portal's address is printed; the demo log-in links (the key in
    // the fragment) are in a file only its owner reads, never in the terminal.
    let portal_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("portal: https://"))
        .unwrap_or_else(|| panic!("the portal's address is printed\n{out}"));
    assert!(portal_line.contains("/portal/"), "{portal_line}");
    let logins = data.join("portal-logins.txt");
    let mode = std::fs::metadata(&logins).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "portal-logins.txt is readable by others");
    let logins = std::fs::read_to_string(&logins).unwrap();
    for who in [
        "patient-1",
        "doctor",
        "er-doctor",
        "no-grant",
        "pharmacist",
        "lab",
        "guardian",
    ] {
        let secret = logins
            .lines()
            .find(|l| l.split_whitespace().next() == Some(who))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|link| link.split_once("/portal/#login="))
            .map(|(_, key)| key)
            .unwrap_or_else(|| panic!("{who}'s log-in link in portal-logins.txt\n{logins}"));
        assert_eq!(secret.len(), 64, "{who}'s secret key, 64 hex digits");
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{who}'s secret key was printed"
        );
    }
    let login = std::fs::read_to_string(&login).unwrap();
    let user = format!("{database}_analyst:");
    assert!(login.contains(&user), "{login}");
    let password = login
        .split(&user)
        .nth(1)
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    assert!(password.len() >= 32, "a made-up password: {login}");
    assert!(!out.contains(password), "the password is in the terminal");
    assert!(p["disclosures_logged"].as_i64().unwrap() >= 3);

    // PostgreSQL holds ciphertext, and the chain left behind holds every root.
    let mut db = ehr_migrations::connect(&with_database(&database_url(), &database)).unwrap();
    let batches = db
        .query(
            "SELECT batch_id, merkle_root, service FROM ingest.batches WHERE status = 'committed'",
            &[],
        )
        .unwrap();
    assert_eq!(
        batches.len() as i64,
        p["batches_committed"].as_i64().unwrap()
    );
    if data.join("chain").exists() {
        let mut node = Command::new(
            Path::new(env!("CARGO_BIN_EXE_ehr-consortium")).with_file_name("ehr-node"),
        )
        .args(["dev", "--home"])
        .arg(data.join("chain"))
        // Only this test asks it, on loopback, after the run.
        .args(["--rpc", "127.0.0.1:0", "--insecure-plaintext"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ehr-node dev restarts on the job's chain");
        let mut line = String::new();
        BufReader::new(node.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split("serving RPC at ")
            .nth(1)
            .unwrap()
            .trim()
            .to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let rpc = ehr_client::rpc::RpcClient::new(&url);
        for b in &batches {
            let (id, root, service): (i64, Vec<u8>, String) = (b.get(0), b.get(1), b.get(2));
            let anchor: ehr_ledger::proto::StoredBatchAnchor = rt
                .block_on(rpc.query(&format!("/batch/{service}/{id}")))
                .unwrap()
                .unwrap_or_else(|| panic!("batch {id} is not on chain"));
            assert_eq!(anchor.merkle_root, root, "batch {id}");
        }
        let _ = node.kill();
        let _ = node.wait();
    }
}
