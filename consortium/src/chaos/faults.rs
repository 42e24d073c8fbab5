//! The faults chaos does to a running consortium, as data: what each does
//! when injected, and what undoes it when its time is up (a killed part is
//! brought back by the supervisor, as it would be in a hospital).

use std::time::Duration;

use ehr_testkit::cometbft::Part;

use super::rng::Rng;
use crate::running::Running;

/// One fault.
#[derive(Clone, Debug)]
pub enum Fault {
    /// kill -9 of one process of a hospital's validator.
    KillValidator {
        site: usize,
        part: Part,
    },
    /// SIGSTOP of one process of a hospital's validator, SIGCONT after.
    PauseValidator {
        site: usize,
        part: Part,
        lasting: Duration,
    },
    /// kill -9 of one Kafka broker.
    KillBroker(usize),
    KillIngest,
    KillGateway,
    /// PostgreSQL's immediate shutdown, every connection cut, no
    /// checkpoint: a crash.
    CrashPostgres,
    /// One site cut off from the others.
    Isolate {
        site: usize,
        lasting: Duration,
    },
    /// Every wide-area link slowed by this much one way (± a tenth).
    Latency {
        one_way: Duration,
        lasting: Duration,
    },
}

fn part_name(part: Part) -> &'static str {
    match part {
        Part::Cometbft => "cometbft",
        Part::App => "ehr-node",
    }
}

impl Fault {
    /// A fault drawn from `rng`, among those the run has the parts for.
    pub fn draw(rng: &mut Rng, sites: &[String], brokers: usize, postgres: bool) -> Fault {
        let site = rng.below(sites.len().max(1));
        let part = if rng.below(2) == 0 {
            Part::Cometbft
        } else {
            Part::App
        };
        let seconds = |rng: &mut Rng, low, high| Duration::from_secs(rng.between(low, high));
        loop {
            return match rng.below(9) {
                0 => Fault::KillValidator { site, part },
                1 => Fault::PauseValidator {
                    site,
                    part,
                    lasting: seconds(rng, 5, 10),
                },
                2 if brokers > 1 => Fault::KillBroker(rng.below(brokers)),
                3 => Fault::KillIngest,
                4 => Fault::KillGateway,
                5 if postgres => Fault::CrashPostgres,
                6 | 7 if sites.len() > 1 => Fault::Isolate {
                    site,
                    lasting: seconds(rng, 15, 30),
                },
                8 if sites.len() > 1 => Fault::Latency {
                    one_way: Duration::from_millis(rng.between(50, 150)),
                    lasting: seconds(rng, 10, 20),
                },
                _ => continue,
            };
        }
    }

    /// The fault in words, naming the hospital where it has one.
    pub fn describe(&self, sites: &[String]) -> String {
        let at = |s: &usize| sites.get(*s).cloned().unwrap_or_default();
        match self {
            Fault::KillValidator { site, part } => {
                format!("kill -9 {} of {}", part_name(*part), at(site))
            }
            Fault::PauseValidator {
                site,
                part,
                lasting,
            } => format!(
                "SIGSTOP {} of {} for {} s",
                part_name(*part),
                at(site),
                lasting.as_secs()
            ),
            Fault::KillBroker(i) => format!("kill -9 Kafka broker {}", i + 1),
            Fault::KillIngest => "kill -9 ingest".into(),
            Fault::KillGateway => "kill -9 the gateway".into(),
            Fault::CrashPostgres => "crash PostgreSQL (immediate shutdown)".into(),
            Fault::Isolate { site, lasting } => {
                format!(
                    "cut {} off from the others for {} s",
                    at(site),
                    lasting.as_secs()
                )
            }
            Fault::Latency { one_way, lasting } => format!(
                "{} ms one way between every two sites for {} s",
                one_way.as_millis(),
                lasting.as_secs()
            ),
        }
    }

    /// How long the fault holds before it is undone (zero: undone at once,
    /// the supervisor bringing back what was killed).
    pub fn lasting(&self) -> Duration {
        match self {
            Fault::PauseValidator { lasting, .. }
            | Fault::Isolate { lasting, .. }
            | Fault::Latency { lasting, .. } => *lasting,
            _ => Duration::ZERO,
        }
    }

    pub fn inject(&self, running: &mut Running) -> Result<(), String> {
        let network = running.chain.as_mut().and_then(|c| c.network_mut());
        match self {
            Fault::KillValidator { site, part } => {
                if let Some(n) = network {
                    n.nodes[*site].kill_part(*part);
                }
            }
            Fault::PauseValidator { site, part, .. } => {
                if let Some(n) = network {
                    n.nodes[*site].pause(*part);
                }
            }
            Fault::KillBroker(i) => {
                if let Some(k) = running.broker.as_mut() {
                    k.kill_broker(*i);
                }
            }
            Fault::KillIngest => {
                if let Some(i) = running.ingest.as_mut() {
                    i.proc.kill_9();
                }
            }
            Fault::KillGateway => {
                if let Some(g) = running.gateway.as_mut() {
                    g.proc.kill_9();
                }
            }
            Fault::CrashPostgres => {
                if let Some(p) = running.postgres.as_mut() {
                    p.crash();
                }
            }
            Fault::Isolate { site, .. } => {
                if let Some(sites) = sites(running) {
                    sites.isolate(*site).map_err(|e| e.0)?;
                }
            }
            Fault::Latency { one_way, .. } => {
                if let Some(sites) = sites(running) {
                    sites
                        .set_latency(*one_way, *one_way / 10)
                        .map_err(|e| e.0)?;
                }
            }
        }
        Ok(())
    }

    /// Undoes what does not come back by itself.
    pub fn undo(&self, running: &mut Running) -> Result<(), String> {
        match self {
            Fault::PauseValidator { site, part, .. } => {
                if let Some(n) = running.chain.as_mut().and_then(|c| c.network_mut()) {
                    n.nodes[*site].resume(*part);
                }
            }
            Fault::Isolate { .. } => {
                if let Some(sites) = sites(running) {
                    sites.heal().map_err(|e| e.0)?;
                }
            }
            Fault::Latency { .. } => {
                if let Some(sites) = sites(running) {
                    sites.clear_latency().map_err(|e| e.0)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn sites(running: &Running) -> Option<std::sync::Arc<ehr_testkit::sites::Sites>> {
    running.chain.as_ref().and_then(|c| c.sites.clone())
}
