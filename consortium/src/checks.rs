//! What the summary proves from the data, each a check that holds or says
//! why not: every reading the brokers acknowledged stored exactly once,
//! every batch anchored, every validator at the same app hash at every
//! height they share, every record served disclosed on chain; and the
//! longest the chain went without a block.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ehr_client::rpc::RpcClient;
use serde::Serialize;

use crate::fleet::Counters;
use crate::running::Running;
use crate::Error;

/// One check of the run.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn new(name: &str, ok: bool, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        }
    }
}

/// The fleet's readings against what was stored.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReadingsAccount {
    pub published: u64,
    pub acknowledged: u64,
    pub unacknowledged: u64,
    /// Well-formed readings the brokers acknowledged: each must be stored.
    pub acknowledged_well_formed: u64,
    pub stored: u64,
    /// Acknowledged and well-formed, yet not stored.
    pub lost: u64,
    /// Rows beyond one per (device, sequence number): the table's key
    /// refuses a second copy, so a redelivery shows in the analysts' copy
    /// (`analytics_once`) if anywhere.
    pub duplicated: u64,
}

/// Stored (device id, sequence number) pairs, and how many rows hold them.
fn stored(db: &mut postgres::Client) -> Result<(BTreeSet<(String, u64)>, u64), Error> {
    let rows = db.query(
        "SELECT d.device_id, r.device_seq FROM ingest.records r
         JOIN ingest.patient_devices d ON d.pair_no = r.pair_no",
        &[],
    )?;
    let count = rows.len() as u64;
    let set = rows
        .into_iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
        .collect();
    Ok((set, count))
}

fn acknowledged(counters: &Counters, devices: &[String]) -> BTreeSet<(String, u64)> {
    counters
        .acknowledged_good
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(|(i, seq)| devices.get(*i).map(|d| (d.clone(), *seq)))
        .collect()
}

/// Waits, up to `limit`, until every acknowledged well-formed reading is
/// stored (ingest catching up after the last fault); then the account.
pub fn readings_once(
    db: &mut postgres::Client,
    database_url: &str,
    counters: &Counters,
    devices: &[String],
    limit: Duration,
) -> Result<(Check, ReadingsAccount), Error> {
    let expected = acknowledged(counters, devices);
    let deadline = Instant::now() + limit;
    let (set, rows) = loop {
        crate::database::reconnect_if_lost(db, database_url);
        let (set, rows) = stored(db)?;
        if expected.is_subset(&set) || Instant::now() > deadline {
            break (set, rows);
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let lost: Vec<&(String, u64)> = expected.difference(&set).collect();
    let account = ReadingsAccount {
        published: counters
            .published
            .load(std::sync::atomic::Ordering::Relaxed),
        acknowledged: counters
            .acknowledged
            .load(std::sync::atomic::Ordering::Relaxed),
        unacknowledged: counters
            .unacknowledged
            .load(std::sync::atomic::Ordering::Relaxed),
        acknowledged_well_formed: expected.len() as u64,
        stored: rows,
        lost: lost.len() as u64,
        duplicated: rows - set.len() as u64,
    };
    let ok = account.lost == 0 && account.duplicated == 0 && account.unacknowledged == 0;
    let detail = format!(
        "{} published, {} acknowledged by the brokers ({} never), {} of them well-formed; {} stored, {} lost{}, {} twice",
        account.published,
        account.acknowledged,
        account.unacknowledged,
        account.acknowledged_well_formed,
        account.stored,
        account.lost,
        match lost.first() {
            Some((device, seq)) => format!(" (the first: {device} #{seq})"),
            None => String::new(),
        },
        account.duplicated
    );
    Ok((
        Check::new("every acknowledged reading stored exactly once", ok, detail),
        account,
    ))
}

/// Every batch anchored: none pending, each committed one's root on chain
/// (`checked` of them, by `summary::check_batches_on_chain`).
pub fn batches_anchored(db: &mut postgres::Client, checked: &Result<u64, String>) -> Check {
    let pending = crate::progress::snapshot(db, 0).batches_pending;
    let (ok, detail) = match checked {
        Ok(n) => (
            pending == 0 && *n > 0,
            format!("{n} batches' roots found on chain as stored; {pending} pending"),
        ),
        Err(e) => (false, e.clone()),
    };
    Check::new("every batch anchored", ok, detail)
}

/// The headers of blocks 1..=`up_to` as `rpc` serves them, by height.
fn headers(
    rt: &tokio::runtime::Runtime,
    rpc: &RpcClient,
    up_to: u64,
) -> Result<BTreeMap<u64, ehr_client::rpc::Header>, Error> {
    let mut all = BTreeMap::new();
    let mut low = 1;
    while low <= up_to {
        let high = (low + 19).min(up_to);
        for h in rt.block_on(rpc.headers(low, high))? {
            all.insert(h.height.parse().unwrap_or(0), h);
        }
        low = high + 1;
    }
    Ok(all)
}

/// What the validators' headers show: the same app hash at every height
/// they all have, and the longest time between two blocks.
pub fn chain(running: &Running, rt: &tokio::runtime::Runtime) -> (Check, Gap) {
    compare_validators(running, rt).unwrap_or_else(|e| {
        (
            Check::new(
                "every validator at the same app hash at every common height",
                false,
                format!("the validators could not be compared: {e}"),
            ),
            Gap::default(),
        )
    })
}

fn compare_validators(
    running: &Running,
    rt: &tokio::runtime::Runtime,
) -> Result<(Check, Gap), Error> {
    let Some(network) = running.chain.as_ref().and_then(|c| c.network()) else {
        return Ok((
            Check::new(
                "every validator at the same app hash",
                true,
                "one sequencer",
            ),
            Gap::default(),
        ));
    };
    let rpcs: Vec<RpcClient> = network.nodes.iter().map(|n| n.rpc()).collect();
    let mut common = u64::MAX;
    for rpc in &rpcs {
        common = common.min(rt.block_on(rpc.latest_height())?);
    }
    let first = headers(rt, &rpcs[0], common)?;
    let mut differ = None;
    for (node, rpc) in network.nodes.iter().zip(&rpcs).skip(1) {
        let theirs = headers(rt, rpc, common)?;
        if let Some((h, _)) = first
            .iter()
            .find(|(h, head)| theirs.get(h).map(|t| &t.app_hash) != Some(&head.app_hash))
        {
            differ.get_or_insert(format!(
                "{} and {} differ at height {h}",
                network.nodes[0].name, node.name
            ));
        }
    }
    let check = Check::new(
        "every validator at the same app hash at every common height",
        differ.is_none() && common > 1,
        differ.unwrap_or(format!(
            "{} validators compared at heights 1 to {common}",
            rpcs.len()
        )),
    );
    Ok((check, Gap::longest(&first)))
}

/// The longest time between two consecutive blocks.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Gap {
    pub seconds: f64,
    /// The height of the block that ended it.
    pub before_height: u64,
}

impl Gap {
    fn longest(headers: &BTreeMap<u64, ehr_client::rpc::Header>) -> Gap {
        let times: Vec<(u64, i128)> = headers
            .iter()
            .filter_map(|(h, head)| {
                tendermint::Time::parse_from_rfc3339(&head.time)
                    .ok()
                    .map(|t| (*h, t.unix_timestamp_nanos()))
            })
            .collect();
        times
            .windows(2)
            .map(|w| Gap {
                seconds: (w[1].1 - w[0].1) as f64 / 1e9,
                before_height: w[1].0,
            })
            .max_by(|a, b| a.seconds.total_cmp(&b.seconds))
            .unwrap_or_default()
    }
}

/// The analysts' de-identified copy holds each reading of a patient who
/// consents to research once: as many rows as such readings stored (the
/// copy has no key of its own, so a reading written twice shows here).
pub fn analytics_once(db: &mut postgres::Client, consenting: &[String]) -> Check {
    let counts = db.query_one(
        "SELECT (SELECT count(*) FROM ingest.records
                 WHERE pair_no IN (SELECT pair_no FROM ingest.patient_devices WHERE patient = ANY($1))),
                (SELECT count(*) FROM analytics.readings)",
        &[&consenting],
    );
    match counts {
        Ok(row) => {
            let (expected, rows): (i64, i64) = (row.get(0), row.get(1));
            Check::new(
                "the analysts' copy holds each consenting patient's reading once",
                expected == rows && rows > 0,
                format!("{rows} de-identified rows for {expected} readings of consenting patients"),
            )
        }
        Err(e) => Check::new(
            "the analysts' copy holds each consenting patient's reading once",
            false,
            format!("PostgreSQL: {}", ehr_migrations::db_message(&e)),
        ),
    }
}

/// Every disclosure the gateway recorded committed on chain (waiting up to
/// `limit` for its log to catch up).
pub fn disclosures(db: &mut postgres::Client, database_url: &str, limit: Duration) -> Check {
    let deadline = Instant::now() + limit;
    loop {
        crate::database::reconnect_if_lost(db, database_url);
        let waiting = crate::progress::disclosures_waiting(db);
        if waiting == 0 || Instant::now() > deadline {
            let logged = crate::progress::snapshot(db, 0).disclosures_logged;
            return Check::new(
                "every record served has its disclosure on chain",
                waiting == 0 && logged > 0,
                format!("{logged} disclosures on chain, {waiting} not"),
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
