//! Crash safety with a real process: a child process applies blocks to a ledger
//! on disk and is killed with SIGKILL at a different moment each round. The
//! reopened ledger must report a height it really committed, with the app hash
//! an uninterrupted ledger had at that height, and go on to the same hashes.
//!
//! The test runs its own binary again as the child (EHR_CRASH_CHILD=<folder>).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use ehr_ledger::mock_consensus::TestNode;
use ehr_testkit::world::workload::{apply, blocks};
use ehr_testkit::world::*;

const BLOCKS: usize = 80;
const ROUNDS: u64 = 6;

fn child(dir: &str) {
    let stream = blocks(&mut World::new(), BLOCKS);
    let mut w = World::at(std::path::Path::new(dir));
    println!("height {}", w.node.height());
    for (time, txs) in &stream {
        w.node.time = *time;
        w.node.block(txs.clone()).expect("block applies");
        println!("height {}", w.node.height());
    }
    // Stay alive until killed.
    std::thread::sleep(Duration::from_secs(600));
}

fn main() {
    if let Ok(dir) = std::env::var("EHR_CRASH_CHILD") {
        return child(&dir);
    }
    let stream = blocks(&mut World::new(), BLOCKS);
    let reference_world = World::new();
    let first_hash = reference_world.node.app_hash();
    let mut reference_node = reference_world.node;
    // reference[h] = app hash after block h (block 1 registers the cast).
    let mut reference = vec![[0u8; 32], first_hash];
    reference.extend(apply(&mut reference_node, &stream));

    let (mut passed, mut failed) = (0, 0);
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("EHR_CRASH_CHILD", dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("child starts");
        // Wait until the child has committed some blocks, then kill it at a
        // moment that varies from round to round (and run to run).
        let target = 5 + round as usize * 11;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = Instant::now();
        while let Some(Ok(line)) = lines.next() {
            let h: usize = line.trim_start_matches("height ").parse().unwrap_or(0);
            if h >= target || started.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        let jitter = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 7_000_000;
        std::thread::sleep(Duration::from_nanos(u64::from(jitter)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();

        let path = dir.path().join("ledger.redb");
        let mut node = TestNode::reopen(&path).expect("a killed ledger reopens");
        let h = node.height() as usize;
        let ok_at_kill = node.app_hash() == reference[h];
        let rest = apply(&mut node, &stream[h - 1..]);
        let ok_after = rest.last() == reference.last();
        println!(
            "round {round}: killed at height {h}: hash there {}, after replay to {} {}",
            if ok_at_kill { "matches" } else { "DIFFERS" },
            node.height(),
            if ok_after { "matches" } else { "DIFFERS" }
        );
        if ok_at_kill && ok_after && h >= target {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
