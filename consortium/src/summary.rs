//! The run's account: what every part did, the batches checked against the
//! chain, what the analyst sees, written as JSON and told in the terminal.

use ehr_client::rpc::RpcClient;
use serde::Serialize;

use crate::chaos::FaultRecord;
use crate::checks::{Check, Gap, ReadingsAccount};
use crate::progress::Snapshot;
use crate::story::{Cast, Step};
use crate::supervisor::Restart;
use crate::Error;

#[derive(Serialize)]
pub struct Summary {
    pub consensus: String,
    pub broker: String,
    pub rpc: String,
    pub gateway: String,
    pub database_url: String,
    pub steps: Vec<Step>,
    pub readings_published: u64,
    pub misbehaving_published: u64,
    pub progress: Snapshot,
    pub batches_checked_on_chain: u64,
    pub ward_rounds: Ward,
    pub analyst: Analyst,
    pub clean_shutdown: bool,
    /// Each link of the run and what protects it.
    pub links: Vec<Link>,
    /// What the run proves from its data.
    pub checks: Vec<Check>,
    pub readings: ReadingsAccount,
    pub longest_block_gap: Gap,
    /// Parts the supervisor started again.
    pub restarts: Vec<Restart>,
    pub chaos: Option<ChaosAccount>,
}

/// The faults a `--chaos` run injected, with their times and recoveries.
#[derive(Clone, Debug, Serialize)]
pub struct ChaosAccount {
    pub seed: u64,
    pub faults: Vec<FaultRecord>,
}

/// One link between the run's parts, and how it is secured.
#[derive(Clone, Debug, Serialize)]
pub struct Link {
    pub between: String,
    pub security: String,
}

impl Link {
    pub fn new(between: &str, security: impl Into<String>) -> Link {
        Link {
            between: between.into(),
            security: security.into(),
        }
    }
}

/// What the analyst sees, and is refused.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Analyst {
    /// (LOINC, readings, mean value)
    pub by_code: Vec<(String, i64, f64)>,
    /// PostgreSQL's refusal of `SELECT … FROM ingest.records`; None if allowed.
    pub records_refused: Option<String>,
}

/// The doctor's reads while the consortium runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ward {
    pub reads: usize,
    pub records: usize,
    pub verified: usize,
}

/// Every committed batch's root, compared with the anchor on chain.
pub fn check_batches_on_chain(
    rt: &tokio::runtime::Runtime,
    rpc: &RpcClient,
    db: &mut postgres::Client,
    cast: &Cast,
) -> Result<u64, Error> {
    let rows = db
        .query("SELECT batch_id, merkle_root FROM ingest.batches WHERE status = 'committed' ORDER BY batch_id", &[])
        ?;
    let service = cast.ingest.address();
    let mut checked = 0;
    for r in rows {
        let id: i64 = r.get(0);
        let root: Vec<u8> = r.get(1);
        let on_chain: Option<ehr_ledger::proto::StoredBatchAnchor> =
            rt.block_on(rpc.query(&format!("/batch/{service}/{id}")))?;
        match on_chain {
            Some(a) if a.merkle_root == root => checked += 1,
            _ => return Err(Error::BatchNotOnChain(id)),
        }
    }
    Ok(checked)
}

/// As the analyst: the de-identified readings by code, and PostgreSQL's answer
/// to a look at the encrypted records (which must be a refusal).
pub fn analyst_query(url: &str) -> Result<Analyst, ehr_migrations::SchemaError> {
    let mut c = ehr_migrations::connect(url)?;
    let records_refused = match c.query("SELECT count(*) FROM ingest.records", &[]) {
        Ok(_) => None,
        Err(e) => Some(ehr_migrations::db_message(&e)),
    };
    let rows = c.query(
        "SELECT loinc, count(*), avg(value) FROM analytics.readings GROUP BY loinc ORDER BY loinc",
        &[],
    )?;
    Ok(Analyst {
        by_code: rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        records_refused,
    })
}

pub fn print_summary(
    s: &Summary,
    data: &std::path::Path,
    analyst: &Result<Analyst, ehr_migrations::SchemaError>,
) {
    let p = &s.progress;
    let ok = s.steps.iter().filter(|x| x.ok).count();
    println!("\n══ Summary ══");
    println!("consensus       {} — {} blocks", s.consensus, p.height);
    println!("broker          {}", s.broker);
    for (i, link) in s.links.iter().enumerate() {
        let label = if i == 0 { "links" } else { "" };
        println!("{label:<15} {}: {}", link.between, link.security);
    }
    println!(
        "story           {ok} of {} steps as expected{}",
        s.steps.len(),
        if ok == s.steps.len() {
            ""
        } else {
            " (see UNEXPECTED above)"
        }
    );
    for x in s.steps.iter().filter(|x| !x.ok) {
        println!(
            "                UNEXPECTED: {} — expected {}, got {}",
            x.title, x.expected, x.got
        );
    }
    println!(
        "devices         {} readings published ({} misbehaving on purpose)",
        s.readings_published, s.misbehaving_published
    );
    println!("ingest          {} readings stored encrypted, {} rejected with a reason, {} batches anchored ({} checked against the chain), {} pending", p.records, p.rejects, p.batches_committed, s.batches_checked_on_chain, p.batches_pending);
    println!(
        "read path       {} disclosures logged on chain; ward rounds: {} reads, {} records, {} verified against the chain",
        p.disclosures_logged, s.ward_rounds.reads, s.ward_rounds.records, s.ward_rounds.verified
    );
    match analyst {
        Ok(a) => {
            println!(
                "analytics       {} de-identified readings from research-consenting patients, as the analyst sees them:",
                p.analytics_rows
            );
            for (loinc, n, avg) in &a.by_code {
                let name = ehr_client::vitals::vital(loinc).map_or("", |v| v.name);
                println!("                  {loinc:<8} {name:<36} {n:>6} readings, mean {avg:.1}");
            }
            match &a.records_refused {
                Some(why) => println!("                the analyst asking for the encrypted records is refused: {why}"),
                None => println!("                WARNING: the analyst can read ingest.records"),
            }
        }
        Err(e) => println!("analytics       the analyst query failed: {e}"),
    }
    if let Some(chaos) = &s.chaos {
        println!(
            "chaos           seed {}: {} faults injected",
            chaos.seed,
            chaos.faults.len()
        );
        for f in &chaos.faults {
            let recovered = match f.recovered_after_s {
                Some(r) => format!("whole again {r:.1} s after"),
                None => "NOT whole again within 3 minutes".into(),
            };
            println!(
                "                  at {:>6.1} s  {:<58} {recovered}",
                f.injected_at_s, f.fault
            );
        }
    }
    if !s.restarts.is_empty() {
        println!(
            "supervisor      {} restarts: {}",
            s.restarts.len(),
            s.restarts
                .iter()
                .map(|r| format!("{} ({:.1} s down)", r.part, r.down_s))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "chain           longest time without a block: {:.1} s (before height {})",
        s.longest_block_gap.seconds, s.longest_block_gap.before_height
    );
    for (i, c) in s.checks.iter().enumerate() {
        let label = if i == 0 { "checks" } else { "" };
        println!(
            "{label:<15} {} {}: {}",
            if c.ok { "✓" } else { "✗ FAILED" },
            c.name,
            c.detail
        );
    }
    println!(
        "shutdown        {}",
        if s.clean_shutdown {
            "every process stopped cleanly"
        } else {
            "some process had to be killed (see the logs)"
        }
    );
    println!("\nWhere to look:");
    println!("  logs, chain data, keys   {}", data.display());
    println!(
        "  the summary as JSON      {}",
        data.join("summary.json").display()
    );
    println!(
        "  as the analyst           psql \"$(cat {})\"  (a password made for this run)",
        data.join("analyst.url").display()
    );
    println!("  the stored ciphertext    psql \"{}\" -c 'SELECT record_id, loinc, batch_id, length(ciphertext) FROM ingest.stored_records LIMIT 5'  (the owner's password: the one in DATABASE_URL)", s.database_url);
    println!("  fetch and verify         run `scripts/run.sh --duration 0` and, while it runs, in another terminal:");
    println!("                             target/release/ehr --home {} --node <rpc> --gateway <gateway> fetch --as doctor --patient patient-1", data.join("ehr").display());
    println!(
        "                             target/release/ehr --home {} --node <rpc> audit patient-1",
        data.join("ehr").display()
    );
    println!(
        "                           (<rpc> and <gateway> as printed at the start: {} and {})",
        s.rpc, s.gateway
    );
    println!("  docs                     README.md, docs/node.md, docs/ingest.md, docs/gateway.md");
}
