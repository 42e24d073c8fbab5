//! What an operator's supervisor (systemd, Kubernetes) does for each
//! hospital: a part of the consortium that died is started again, after a
//! back-off that grows while it keeps dying, logged and counted in the
//! summary. With `--fail-fast` a death stops the run instead, naming the
//! part and its log.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::running::Running;
use crate::Error;

/// The first wait before a restart, doubled for each restart within
/// `STEADY` of the last, up to `LONGEST`.
const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(30);
/// A part that ran this long since its last restart starts over at `FIRST`.
const STEADY: Duration = Duration::from_secs(60);

/// A part the supervisor watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Ingest,
    Gateway,
    Fhir,
    /// A hospital's validator: its `cometbft` and its `ehr-node`.
    Validator(usize),
    Broker(usize),
    Postgres,
}

/// One restart, for the summary.
#[derive(Clone, Debug, Serialize)]
pub struct Restart {
    pub part: String,
    /// Seconds since the supervisor began watching.
    pub at_s: f64,
    /// How long the part was down until it was started again (a
    /// validator's processes started; a service or broker serving).
    pub down_s: f64,
    /// Why the restart failed (it is tried again), if it did.
    pub error: Option<String>,
}

struct Down {
    since: Instant,
    wait: Duration,
}

pub struct Supervisor {
    fail_fast: bool,
    started: Instant,
    down: BTreeMap<String, Down>,
    /// The wait before the next restart, and when the last one was.
    backoff: BTreeMap<String, (Duration, Instant)>,
    pub restarts: Vec<Restart>,
}

fn parts(running: &Running) -> Vec<(Part, String)> {
    let mut all = Vec::new();
    if running.ingest.is_some() {
        all.push((Part::Ingest, "ingest".to_string()));
    }
    if running.gateway.is_some() {
        all.push((Part::Gateway, "gateway".to_string()));
    }
    if running.fhir.is_some() {
        all.push((Part::Fhir, "FHIR API".to_string()));
    }
    if let Some(network) = running.chain.as_ref().and_then(|c| c.network()) {
        for (i, node) in network.nodes.iter().enumerate() {
            all.push((Part::Validator(i), format!("validator of {}", node.name)));
        }
    }
    if let Some(kafka) = &running.broker {
        for i in 0..kafka.brokers() {
            all.push((Part::Broker(i), format!("Kafka broker {}", i + 1)));
        }
    }
    if running.postgres.is_some() {
        all.push((Part::Postgres, "PostgreSQL".to_string()));
    }
    all
}

/// Whether every part the run started is running.
pub fn all_running(running: &mut Running) -> bool {
    parts(running)
        .into_iter()
        .all(|(part, _)| alive(part, running))
}

fn alive(part: Part, running: &mut Running) -> bool {
    match part {
        Part::Ingest => running.ingest.as_mut().is_none_or(|i| i.proc.is_running()),
        Part::Gateway => running.gateway.as_mut().is_none_or(|g| g.proc.is_running()),
        Part::Fhir => running.fhir.as_mut().is_none_or(|f| f.proc.is_running()),
        Part::Validator(i) => running
            .chain
            .as_mut()
            .and_then(|c| c.network_mut())
            .is_none_or(|n| n.nodes[i].is_running()),
        Part::Broker(i) => running.broker.as_mut().is_none_or(|k| k.broker_running(i)),
        Part::Postgres => running.postgres.as_mut().is_none_or(|p| p.is_running()),
    }
}

fn restart(part: Part, running: &mut Running) -> Result<(), String> {
    let engine = |e: ehr_testkit::Error| e.0;
    match part {
        Part::Ingest => {
            if let Some(i) = running.ingest.as_mut() {
                let (proc, _) = i.launch.spawn().map_err(|e| e.to_string())?;
                i.proc = proc;
            }
        }
        Part::Gateway | Part::Fhir => {
            let service = match part {
                Part::Gateway => running.gateway.as_mut(),
                _ => running.fhir.as_mut(),
            };
            if let Some(s) = service {
                let (proc, _) = s.launch.spawn().map_err(|e| e.to_string())?;
                s.proc = proc;
            }
        }
        Part::Validator(i) => {
            if let Some(n) = running.chain.as_mut().and_then(|c| c.network_mut()) {
                n.nodes[i].restart().map_err(engine)?;
            }
        }
        Part::Broker(i) => {
            if let Some(k) = running.broker.as_mut() {
                k.restart_broker(i).map_err(engine)?;
            }
        }
        Part::Postgres => {
            if let Some(p) = running.postgres.as_mut() {
                p.start_again().map_err(engine)?;
            }
        }
    }
    Ok(())
}

impl Supervisor {
    pub fn new(fail_fast: bool) -> Supervisor {
        Supervisor {
            fail_fast,
            started: Instant::now(),
            down: BTreeMap::new(),
            backoff: BTreeMap::new(),
            restarts: Vec::new(),
        }
    }

    /// Looks at every part once: a dead one is restarted when its back-off
    /// has passed (or, failing fast, stops the run).
    pub fn check(&mut self, running: &mut Running, data: &Path) -> Result<(), Error> {
        for (part, name) in parts(running) {
            if alive(part, running) {
                continue;
            }
            if self.fail_fast {
                return Err(Error::Invalid(format!(
                    "{name} stopped unexpectedly (see the logs in {}); without --fail-fast it would have been restarted",
                    data.display()
                )));
            }
            let now = Instant::now();
            let wait = self.next_wait(&name, now);
            let down = self.down.entry(name.clone()).or_insert_with(|| {
                println!("\n  supervisor: {name} is down; restarting it in {wait:.0?}");
                Down { since: now, wait }
            });
            if now < down.since + down.wait {
                continue;
            }
            let since = down.since;
            let outcome = restart(part, running);
            let record = Restart {
                part: name.clone(),
                at_s: self.started.elapsed().as_secs_f64(),
                down_s: since.elapsed().as_secs_f64(),
                error: outcome.as_ref().err().cloned(),
            };
            match &outcome {
                Ok(()) => {
                    println!(
                        "  supervisor: {name} restarted, serving again after {:.1} s down",
                        record.down_s
                    );
                    self.down.remove(&name);
                }
                Err(e) => {
                    println!("  supervisor: {name} did not start again ({e}); trying later");
                }
            }
            self.backoff.insert(name.clone(), (wait, Instant::now()));
            if outcome.is_err() {
                // Tried again after a longer wait.
                let longer = self.next_wait(&name, Instant::now());
                if let Some(d) = self.down.get_mut(&name) {
                    d.since = Instant::now();
                    d.wait = longer;
                }
            }
            self.restarts.push(record);
        }
        Ok(())
    }

    /// The wait before restarting `name`: doubled while it keeps dying.
    fn next_wait(&self, name: &str, now: Instant) -> Duration {
        match self.backoff.get(name) {
            Some((last, at)) if now.duration_since(*at) < STEADY => (*last * 2).min(LONGEST),
            _ => FIRST,
        }
    }

    /// Restarts per part, for the summary.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.restarts.iter().filter(|r| r.error.is_none()) {
            *counts.entry(r.part.clone()).or_insert(0) += 1;
        }
        counts
    }
}
