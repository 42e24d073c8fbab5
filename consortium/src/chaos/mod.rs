//! `ehr-consortium --chaos <seed>`: while the fleet publishes and the ward
//! rounds read, faults drawn from the seed at moments drawn from it — one at
//! a time, so that each one's recovery is measured on its own: from the
//! moment it is undone (or, for a kill, injected) until every part runs
//! again, every validator has passed the height the chain had then, a new
//! batch is anchored, and the gateway answers.

mod faults;
mod rng;

use std::time::{Duration, Instant};

use ehr_client::rpc::RpcClient;
use serde::Serialize;

pub use faults::Fault;
use rng::Rng;

use crate::running::Running;

/// Between one fault's recovery and the next fault.
const PAUSE_SECONDS: (u64, u64) = (3, 8);
/// A fault not recovered from within this long is recorded as such.
const RECOVERY_LIMIT: Duration = Duration::from_secs(180);
/// How long a look at a part may take (a paused process never answers).
const LOOK_WITHIN: Duration = Duration::from_secs(2);

/// One fault injected, and what became of it.
#[derive(Clone, Debug, Serialize)]
pub struct FaultRecord {
    pub fault: String,
    /// When it was injected, in Unix milliseconds.
    pub injected_at_unix_ms: i64,
    /// Seconds since chaos began.
    pub injected_at_s: f64,
    pub undone_at_s: Option<f64>,
    /// Seconds from its undoing until the consortium was whole again
    /// (None: not within three minutes).
    pub recovered_after_s: Option<f64>,
    /// Why it could not be injected or undone, if so.
    pub error: Option<String>,
}

enum State {
    Idle,
    Holding {
        fault: Fault,
        until: Instant,
    },
    Recovering {
        since: Instant,
        height: u64,
        /// Batches anchored when the recovery began; None until the
        /// database answers (after a crash it does not at once).
        batches: Option<i64>,
    },
}

pub struct Chaos {
    pub seed: u64,
    rng: Rng,
    started: Instant,
    sites: Vec<String>,
    next_at: Instant,
    state: State,
    last_look: Instant,
    pub faults: Vec<FaultRecord>,
}

impl Chaos {
    /// Chaos over `running`, its first fault a few seconds from now.
    pub fn new(seed: u64, running: &Running) -> Chaos {
        let sites = running
            .chain
            .as_ref()
            .and_then(|c| c.network())
            .map(|n| n.nodes.iter().map(|node| node.name.clone()).collect())
            .unwrap_or_default();
        let mut rng = Rng::new(seed);
        let first = Duration::from_secs(rng.between(PAUSE_SECONDS.0, PAUSE_SECONDS.1));
        Chaos {
            seed,
            rng,
            started: Instant::now(),
            sites,
            next_at: Instant::now() + first,
            state: State::Idle,
            last_look: Instant::now(),
            faults: Vec::new(),
        }
    }

    /// Injects, undoes and watches; `inject` false once the run nears its
    /// end (what holds is undone, recoveries still measured).
    pub fn tick(
        &mut self,
        running: &mut Running,
        db: &mut postgres::Client,
        rt: &tokio::runtime::Runtime,
        gateway: &str,
        inject: bool,
    ) {
        let now = Instant::now();
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle if inject && now >= self.next_at => self.inject(running, db, rt),
            State::Idle => {}
            State::Holding { fault, until } if now >= until || !inject => {
                let error = fault.undo(running).err();
                if let Some(record) = self.faults.last_mut() {
                    record.undone_at_s = Some(self.started.elapsed().as_secs_f64());
                    record.error = record.error.take().or(error);
                }
                println!("\n  chaos: undone — {}", fault.describe(&self.sites));
                self.recovering(running, db, rt);
            }
            holding @ State::Holding { .. } => self.state = holding,
            State::Recovering {
                since,
                height,
                batches,
            } => {
                if self.last_look.elapsed() < Duration::from_secs(1) {
                    self.state = State::Recovering {
                        since,
                        height,
                        batches,
                    };
                    return;
                }
                self.last_look = Instant::now();
                let batches = batches.or_else(|| crate::progress::committed_batches(db));
                let whole = batches.is_some_and(|b| whole(running, db, rt, gateway, height, b));
                let late = since.elapsed() > RECOVERY_LIMIT;
                if whole || late {
                    let took = whole.then(|| since.elapsed().as_secs_f64());
                    if let Some(record) = self.faults.last_mut() {
                        record.recovered_after_s = took;
                    }
                    match took {
                        Some(s) => println!("  chaos: whole again after {s:.1} s"),
                        None => println!("  chaos: NOT whole again within {RECOVERY_LIMIT:?}"),
                    }
                    let pause = self.rng.between(PAUSE_SECONDS.0, PAUSE_SECONDS.1);
                    self.next_at = Instant::now() + Duration::from_secs(pause);
                } else {
                    self.state = State::Recovering {
                        since,
                        height,
                        batches,
                    };
                }
            }
        }
    }

    /// Whether a fault holds or its recovery is being watched.
    pub fn busy(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    fn inject(
        &mut self,
        running: &mut Running,
        db: &mut postgres::Client,
        rt: &tokio::runtime::Runtime,
    ) {
        let brokers = running.broker.as_ref().map_or(0, |k| k.brokers());
        let fault = Fault::draw(
            &mut self.rng,
            &self.sites,
            brokers,
            running.postgres.is_some(),
        );
        let described = fault.describe(&self.sites);
        let error = fault.inject(running).err();
        println!("\n  chaos: {described}");
        self.faults.push(FaultRecord {
            fault: described,
            injected_at_unix_ms: ehr_client::service::now_ms(),
            injected_at_s: self.started.elapsed().as_secs_f64(),
            undone_at_s: None,
            recovered_after_s: None,
            error,
        });
        if fault.lasting().is_zero() {
            if let Some(record) = self.faults.last_mut() {
                record.undone_at_s = Some(record.injected_at_s);
            }
            self.recovering(running, db, rt);
        } else {
            self.state = State::Holding {
                until: Instant::now() + fault.lasting(),
                fault,
            };
        }
    }

    /// From now, watch for the consortium to be whole again.
    fn recovering(
        &mut self,
        running: &Running,
        db: &mut postgres::Client,
        rt: &tokio::runtime::Runtime,
    ) {
        let height = heights(running, rt).into_iter().max().unwrap_or(0);
        self.state = State::Recovering {
            since: Instant::now(),
            height: height + 1,
            batches: crate::progress::committed_batches(db),
        };
    }

    /// Undoes a fault still held (the run stopping in the middle of one):
    /// nothing paused, cut or slowed is left for the checks.
    pub fn settle(&mut self, running: &mut Running) {
        if let State::Holding { fault, .. } = std::mem::replace(&mut self.state, State::Idle) {
            let error = fault.undo(running).err();
            if let Some(record) = self.faults.last_mut() {
                record.undone_at_s = Some(self.started.elapsed().as_secs_f64());
                record.error = record.error.take().or(error);
            }
            println!(
                "\n  chaos: undone as the run stops — {}",
                fault.describe(&self.sites)
            );
        }
    }
}

/// Every validator's height (0 for one that does not answer in time).
pub fn heights(running: &Running, rt: &tokio::runtime::Runtime) -> Vec<u64> {
    let Some(network) = running.chain.as_ref().and_then(|c| c.network()) else {
        return Vec::new();
    };
    network
        .nodes
        .iter()
        .map(|node| crate::progress::height(rt, &RpcClient::new(&node.rpc_url())))
        .collect()
}

/// Every part running again, every validator past `height`, a batch
/// anchored since `batches` were, and the gateway answering.
fn whole(
    running: &mut Running,
    db: &mut postgres::Client,
    rt: &tokio::runtime::Runtime,
    gateway: &str,
    height: u64,
    batches: i64,
) -> bool {
    let validators = heights(running, rt).iter().all(|h| *h >= height);
    let anchoring = crate::progress::committed_batches(db).is_some_and(|now| now > batches);
    let serving = rt.block_on(async {
        let http = ehr_transport::process().http(LOOK_WITHIN);
        http.get(format!("{gateway}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    });
    let restarted = crate::supervisor::all_running(running);
    validators && anchoring && serving && restarted
}
