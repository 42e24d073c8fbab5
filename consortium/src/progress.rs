//! What the consortium has done so far, from PostgreSQL and the chain.

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub height: u64,
    pub records: i64,
    pub batches_committed: i64,
    pub batches_pending: i64,
    pub rejects: i64,
    pub disclosures_logged: i64,
    pub analytics_rows: i64,
}

pub fn snapshot(db: &mut postgres::Client, height: u64) -> Snapshot {
    let count = |db: &mut postgres::Client, sql: &str| {
        db.query_one(sql, &[])
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0)
    };
    Snapshot {
        height,
        records: count(db, "SELECT count(*) FROM ingest.records"),
        batches_committed: count(
            db,
            "SELECT count(*) FROM ingest.batches WHERE status = 'committed'",
        ),
        batches_pending: count(
            db,
            "SELECT count(*) FROM ingest.batches WHERE status = 'pending'",
        ),
        rejects: count(db, "SELECT count(*) FROM ingest.rejects"),
        disclosures_logged: count(
            db,
            "SELECT count(*) FROM gateway.disclosures WHERE status = 'committed'",
        ),
        analytics_rows: count(db, "SELECT count(*) FROM analytics.readings"),
    }
}

/// One line: height, readings/s over the last interval, batches, rejects.
pub fn line(now: &Snapshot, before: &Snapshot, seconds: f64) -> String {
    let rate = (now.records - before.records) as f64 / seconds.max(0.001);
    format!(
        "height {:>6} │ {:>6.0} readings/s │ {:>7} stored │ {:>5} batches anchored, {:>3} pending │ {:>4} rejected │ {:>4} disclosures on chain",
        now.height, rate, now.records, now.batches_committed, now.batches_pending, now.rejects, now.disclosures_logged
    )
}

/// Readings of `patient` in batches the chain has confirmed.
pub fn anchored_readings(db: &mut postgres::Client, patient: &str) -> i64 {
    db.query_one(
        "SELECT count(*) FROM ingest.records r JOIN ingest.batches b ON b.batch_id = coalesce(r.batch_id, ingest.batch_of(r.record_seq)) WHERE r.pair_no = ANY((SELECT ingest.pairs_of($1))::int[]) AND b.status = 'committed'",
        &[&patient],
    )
    .map(|r| r.get(0))
    .unwrap_or(0)
}

/// Disclosures the gateway has not yet seen committed on chain.
pub fn disclosures_waiting(db: &mut postgres::Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM gateway.disclosures WHERE status <> 'committed'",
        &[],
    )
    .map(|r| r.get(0))
    .unwrap_or(-1)
}

/// The chain's height as `rpc` says it, 0 if it does not answer within 2 s
/// (a paused node never does).
pub fn height(rt: &tokio::runtime::Runtime, rpc: &ehr_client::rpc::RpcClient) -> u64 {
    rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(2), rpc.latest_height())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0)
    })
}

/// Batches anchored, if the database answers.
pub fn committed_batches(db: &mut postgres::Client) -> Option<i64> {
    db.query_one(
        "SELECT count(*) FROM ingest.batches WHERE status = 'committed'",
        &[],
    )
    .ok()
    .map(|r| r.get(0))
}
