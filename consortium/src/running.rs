//! Every process a run started, stopped in order whatever happens.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ehr_testkit::ethereum::Geth;
use ehr_testkit::kafka::Kafka;
use ehr_testkit::postgres::Postgres;

use crate::chain::Chain;
use crate::services::{Ingest, Service};

/// The thread publishing the fleet's readings.
pub type FleetThread = std::thread::JoinHandle<Result<(), crate::Error>>;

/// Every process the run started, to be stopped in order whatever happens.
#[derive(Default)]
pub struct Running {
    pub chain: Option<Chain>,
    pub broker: Option<Kafka>,
    pub ingest: Option<Ingest>,
    pub gateway: Option<Service>,
    /// General's FHIR API (not with --insecure-plaintext: it knows its
    /// callers by their certificates).
    pub fhir: Option<Service>,
    pub fleet: Option<(Arc<AtomicBool>, FleetThread)>,
    /// The run's own PostgreSQL server, when it runs one (`--chaos`).
    pub postgres: Option<Postgres>,
    /// The public chain the consortium checkpoints to (`geth --dev`).
    pub ethereum: Option<Geth>,
}

/// Stops what runs, in order; true if every process stopped by itself.
pub fn shutdown(r: &mut Running) -> bool {
    let mut clean = true;
    if let Some((flag, handle)) = r.fleet.take() {
        flag.store(true, Ordering::Relaxed);
        let _ = handle.join();
    }
    if let Some(mut i) = r.ingest.take() {
        clean &= i.proc.stop(Duration::from_secs(20));
    }
    if let Some(mut f) = r.fhir.take() {
        clean &= f.proc.stop(Duration::from_secs(10));
    }
    if let Some(mut g) = r.gateway.take() {
        clean &= g.proc.stop(Duration::from_secs(10));
    }
    if let Some(mut c) = r.chain.take() {
        c.stop();
    }
    if let Some(mut b) = r.broker.take() {
        b.stop(Duration::from_secs(15));
    }
    drop(r.ethereum.take());
    // Last: the services above were its clients.
    drop(r.postgres.take());
    clean
}
