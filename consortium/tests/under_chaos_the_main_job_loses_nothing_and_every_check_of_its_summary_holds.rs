//! `ehr-consortium --chaos 25` for two minutes after the story: faults drawn
//! from the seed (for this seed, first a validator's ehr-node paused, then a
//! PostgreSQL crash, then a Kafka broker killed -9; how many more fit in the
//! time depends on how fast each recovery is) while the fleet publishes and
//! the doctor reads. The run ends by
//! itself with success, and its summary proves from the data that every
//! reading the brokers acknowledged is stored exactly once, every batch is
//! anchored, the four validators agree at every height, every read is on
//! chain — and that the consortium was whole again after every fault, the
//! supervisor having restarted whatever was killed.

mod common;

use std::time::Duration;

use common::MainJob;
use serde_json::Value;

#[test]
fn under_chaos_the_main_job_loses_nothing_and_every_check_of_its_summary_holds() {
    let mut job = MainJob::start(
        "chaos",
        &[
            "--chaos",
            "25",
            "--duration",
            "120",
            "--devices",
            "6",
            "--rate",
            "50",
        ],
    );
    let (status, out, err) = job.finish(Duration::from_secs(900));
    assert!(status.success(), "exit {status:?}\n{out}\n{err}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(job.data.join("summary.json")).unwrap()).unwrap();

    let checks = summary["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 5, "{summary:#}");
    for c in checks {
        assert_eq!(c["ok"], true, "{c}");
    }
    let readings = &summary["readings"];
    assert_eq!(readings["lost"], 0, "{readings}");
    assert_eq!(readings["duplicated"], 0, "{readings}");
    assert_eq!(readings["unacknowledged"], 0, "{readings}");
    assert!(
        readings["acknowledged_well_formed"].as_u64().unwrap() > 3000,
        "{readings}"
    );

    let faults = summary["chaos"]["faults"].as_array().unwrap();
    assert!(faults.len() >= 3, "{faults:#?}");
    for f in faults {
        assert!(f["error"].is_null(), "{f}");
        assert!(
            f["recovered_after_s"].is_number(),
            "the consortium was whole again after {f}"
        );
    }
    let described: Vec<&str> = faults
        .iter()
        .map(|f| f["fault"].as_str().unwrap())
        .collect();
    let kills = described
        .iter()
        .filter(|f| f.starts_with("kill -9") || f.starts_with("crash"))
        .count();
    let restarts = summary["restarts"].as_array().unwrap();
    assert!(
        restarts.iter().filter(|r| r["error"].is_null()).count() >= kills,
        "every part killed was restarted: {described:?} {restarts:#?}"
    );
    assert!(kills >= 2, "{described:?}");
    // The seed decides the faults and their order.
    for (fault, expected) in described.iter().zip([
        "SIGSTOP ehr-node of ",
        "crash PostgreSQL",
        "kill -9 Kafka broker 3",
    ]) {
        assert!(fault.starts_with(expected), "{described:?}");
    }
    assert!(summary["longest_block_gap"]["seconds"].as_f64().unwrap() > 0.0);
    assert!(out.contains("chaos           seed 25"), "{out}");
}
