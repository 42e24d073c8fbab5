//! Prometheus metrics of the ingest service, served on `/metrics`.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub stored: Counter,
    pub duplicates: Counter,
    pub rejected: Family<ReasonLabel, Counter>,
    pub batches_written: Counter,
    pub batches_committed: Counter,
    pub batches_pending: Gauge,
    pub oldest_pending: Gauge,
    pub anchor_latency: Histogram,
    pub consumer_lag: Gauge,
    pub keys_without_escrow: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            stored: Counter::default(),
            duplicates: Counter::default(),
            rejected: Family::default(),
            batches_written: Counter::default(),
            batches_committed: Counter::default(),
            batches_pending: Gauge::default(),
            oldest_pending: Gauge::default(),
            anchor_latency: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            consumer_lag: Gauge::default(),
            keys_without_escrow: Counter::default(),
        };
        {
            let mut r = m.registry.lock().unwrap_or_else(|p| p.into_inner());
            r.register(
                "ehr_ingest_readings_stored",
                "Readings stored encrypted in PostgreSQL",
                m.stored.clone(),
            );
            r.register(
                "ehr_ingest_readings_duplicate",
                "Readings received again and skipped (idempotency)",
                m.duplicates.clone(),
            );
            r.register(
                "ehr_ingest_readings_rejected",
                "Readings refused, by reason",
                m.rejected.clone(),
            );
            r.register(
                "ehr_ingest_batches_written",
                "Batches written to PostgreSQL",
                m.batches_written.clone(),
            );
            r.register(
                "ehr_ingest_batches_committed",
                "Batches whose Merkle root the chain confirmed",
                m.batches_committed.clone(),
            );
            r.register(
                "ehr_ingest_batches_pending",
                "Batches written but not yet confirmed on chain",
                m.batches_pending.clone(),
            );
            r.register(
                "ehr_ingest_oldest_pending_batch_seconds",
                "How long the oldest batch not confirmed on chain has waited (alert when it grows)",
                m.oldest_pending.clone(),
            );
            r.register(
                "ehr_ingest_anchor_latency_seconds",
                "From a batch's write to its anchor's commit",
                m.anchor_latency.clone(),
            );
            r.register(
                "ehr_ingest_data_keys_without_escrow",
                "Data keys wrapped for no break-glass gateway (alert when it grows: emergency reads get no key)",
                m.keys_without_escrow.clone(),
            );
            r.register(
                "ehr_ingest_consumer_lag",
                "Messages in the topic not yet consumed",
                m.consumer_lag.clone(),
            );
        }
        m
    }
}

impl Metrics {
    pub fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn batch_committed(&self, latency_secs: f64) {
        self.batches_committed.inc();
        self.anchor_latency.observe(latency_secs.max(0.0));
    }

    pub fn set_pending(&self, n: i64, oldest_secs: i64) {
        self.batches_pending.set(n);
        self.oldest_pending.set(oldest_secs);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = encode(&mut out, &r);
        out
    }
}
