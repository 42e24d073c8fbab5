//! What a stored reading costs in PostgreSQL, all in: a fresh database
//! migrated like any other, filled through ingest's own write path
//! (`ehr_ingest::store::Store::write`, a batch per transaction) with the
//! readings of a hospital's monitored beds — real ciphertext sizes, data keys
//! wrapped with ECIES for the patient, one doctor and the break-glass escrow,
//! half the patients consenting to research — then every table, TOAST table
//! and index measured and divided by the readings stored. Prints one line per
//! relation and the total (docs/BENCHMARKS.md, "Bytes per stored reading").
//!
//!     cargo build --release --locked -p ehr-benches --bin ehr-storage-bench
//!     source scripts/database-url.sh
//!     target/release/ehr-storage-bench --readings 1000000
//!
//! The batch and key shape follow ingest's rules at a given arrival rate: a
//! batch is what arrives in `--batch-ms` (ingest's default 250 ms), and a
//! patient's readings share her data key for `--key-minutes` (ingest's
//! default 60; her readers do not change here).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use ehr_client::record_encryption::{encrypt_record, fresh_key_id, DataKey};
use ehr_ingest::pipeline::record_id;
use ehr_ingest::reading::content_hash;
use ehr_ingest::store::{DeIdentified, NewKey, NewRecord, Source, Store};
use ehr_ledger::crypto::{sha256, Address, PublicKey, SecretKey};
use ehr_migrations::TestDatabase;

#[derive(Parser)]
struct Args {
    /// Readings to store.
    #[arg(long, default_value_t = 1_000_000)]
    readings: u64,
    /// Monitored beds, one patient and one device each.
    #[arg(long, default_value_t = 2_000)]
    patients: u64,
    /// Readings arriving per second over all beds (2 000 beds at one reading
    /// every 5 s: 400).
    #[arg(long, default_value_t = 400)]
    rate: u64,
    /// How long a batch waits to fill (ingest's --batch-ms).
    #[arg(long, default_value_t = 250)]
    batch_ms: u64,
    /// Readings per batch at most (ingest's --batch-size).
    #[arg(long, default_value_t = 4_000)]
    batch_size: u64,
    /// Bytes of a signed reading before encryption (a heart rate with its
    /// device signature, as `ehr-devices` sends it, encrypts to ≈ 145 B).
    #[arg(long, default_value_t = 117)]
    plaintext: usize,
    /// How long a patient's data key serves her next readings (ingest's
    /// --key-minutes); 0: a key per patient and batch, ingest's rule before
    /// keys were kept open.
    #[arg(long, default_value_t = 60)]
    key_minutes: i64,
    /// Readings stored before the measured ones (`ehr_benches::prefill`, of
    /// other beds, at the same rate, ending where the measured ones start,
    /// in the same day's partition): the write rate with that many stored.
    /// The bytes per reading are then not printed (prefilled rows carry no
    /// wraps, trees or analytics).
    #[arg(long, default_value_t = 0)]
    prefill: i64,
    /// After measuring, time the last N migrations reverted one by one and
    /// applied again one by one over the readings stored (an upgrade's
    /// window: migrations 017 and 018 rewrite every reading), then measure
    /// again.
    #[arg(long, default_value_t = 0)]
    time_migrations: usize,
    /// With --prefill: after measuring, revert the last N migrations, measure
    /// the same number of writes again, apply them again and measure a third
    /// time — an A/B/A of what those migrations cost a write, over the same
    /// stored readings in one run.
    #[arg(long, default_value_t = 0)]
    revert_between: usize,
    /// After measuring, rebuild the keys of the readings' days as
    /// `ehr-db close-days` does once a day is over
    /// (`ehr_migrations::rebuild_day_keys`), timed, then measure again.
    #[arg(long)]
    rebuild: bool,
    /// At the end, close the readings' days (`ehr-db close-days`: sorted, a
    /// BRIN in place of their keys), timed, then measure again.
    #[arg(long)]
    close: bool,
    /// Each statement's share of the measured writes: time, buffers read
    /// and dirtied, WAL; and the blocks each relation read. Needs
    /// `shared_preload_libraries = 'pg_stat_statements'` (PostgreSQL 15's
    /// version 1.10) and a superuser's DATABASE_URL (the extension is made
    /// and its figures reset); `track_io_timing = on` fills the read time.
    #[arg(long)]
    statements: bool,
}

/// A patient's bed: her address, her device, her key's wrap and whether she
/// consents to research.
struct Bed {
    patient: String,
    device: String,
    seq: i64,
    readers: Vec<(Address, PublicKey)>,
    pseudonym: Option<String>,
    /// Her open key and when it was opened (measurement time, ms).
    key: Option<(Arc<NewKey>, Arc<DataKey>, i64)>,
}

fn beds(n: u64, doctor: &SecretKey, escrow: &SecretKey) -> Vec<Bed> {
    (0..n)
        .map(|i| {
            let key = SecretKey::generate();
            let patient = key.address().to_string();
            Bed {
                readers: vec![
                    (key.address(), key.public_key()),
                    (doctor.address(), doctor.public_key()),
                    (escrow.address(), escrow.public_key()),
                ],
                patient,
                device: format!("bedside-monitor-{i:05}"),
                seq: 0,
                key: None,
                pseudonym: (i % 2 == 0)
                    .then(|| format!("p-{}", hex::encode(&sha256(&i.to_be_bytes())[..16]))),
            }
        })
        .collect()
}

/// One batch: what arrives from `beds` (round robin from `next`) in one
/// batch window, each patient's readings under her open key, or a new one
/// once it is `--key-minutes` old (or at each batch, with 0).
fn batch(beds: &mut [Bed], next: &mut usize, size: u64, t0_ms: i64, args: &Args) -> Vec<NewRecord> {
    let mut this_batch = HashSet::new();
    let plaintext = vec![0x5a; args.plaintext];
    (0..size)
        .map(|k| {
            let i = *next % beds.len();
            *next += 1;
            let bed = &mut beds[i];
            bed.seq += 1;
            let expired = match &bed.key {
                Some((_, _, opened)) if args.key_minutes > 0 => {
                    t0_ms - opened >= args.key_minutes * 60_000
                }
                Some(_) => !this_batch.contains(&i),
                None => true,
            };
            if expired {
                let data_key = DataKey::generate();
                let stored = NewKey::wrapped_for(fresh_key_id(), &data_key, &bed.readers);
                bed.key = Some((Arc::new(stored), Arc::new(data_key), t0_ms));
            }
            this_batch.insert(i);
            let (key, data_key, _) = bed.key.as_ref().expect("a key was just opened");
            let record_id = record_id(&bed.device, bed.seq as u64);
            let ciphertext = encrypt_record(data_key, &record_id, &plaintext);
            NewRecord {
                source: Source {
                    topic: "readings".into(),
                    partition: 0,
                    offset: 0,
                    payload_sha256: [0; 32],
                    payload_size: 0,
                },
                ciphertext_sha256: sha256(&ciphertext),
                content_hash: content_hash(record_id.as_bytes()),
                device_id: bed.device.clone(),
                device_seq: bed.seq,
                patient: bed.patient.clone(),
                category: 1,
                loinc: "8867-4".into(),
                measured_at_ms: t0_ms + (k as i64 * 1000) / args.rate as i64,
                ciphertext,
                key: Arc::clone(key),
                analytics: bed.pseudonym.as_ref().map(|p| DeIdentified {
                    pseudonym: p.clone(),
                    // A heart rate to a tenth, varying as a monitor's do:
                    // packed values compress no better than real ones.
                    value: 50.0
                        + ((bed.seq as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as f64
                            / 10.0,
                    unit: "/min".into(),
                }),
            }
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = TestDatabase::create().context("a fresh database (is DATABASE_URL set?)")?;
    if args.prefill > 0 && args.revert_between > 0 {
        let oldest: String = db
            .client()?
            .query_one(
                "SELECT min(version) FROM (SELECT version FROM __diesel_schema_migrations
                 ORDER BY version DESC LIMIT $1) AS last",
                &[&(args.revert_between as i64)],
            )?
            .get(0);
        // 017's revert writes every row's ciphertext hash back from its
        // batch's tree, and prefilled batches have none.
        anyhow::ensure!(
            oldest.as_str() > "20261206000017",
            "--revert-between {} would revert {oldest}, and migration 017's revert needs trees the prefilled batches do not have: revert fewer",
            args.revert_between
        );
    }
    let (doctor, escrow) = (SecretKey::generate(), SecretKey::generate());
    let mut beds = beds(args.patients.max(1), &doctor, &escrow);
    let mut store = Store::connect(&db.url, &escrow.address().to_string())?;
    let per_batch = (args.rate * args.batch_ms / 1000).clamp(1, args.batch_size);
    // 2026-01-01 21:00 UTC: up to 75 600 s of readings before it on the same day.
    let start_ms = 1_767_301_200_000_i64;
    if args.prefill > 0 {
        let at = Instant::now();
        let mut c = db.client()?;
        ehr_benches::prefill::prefill(
            &mut c,
            args.prefill,
            args.patients as i64,
            args.rate as i64,
            start_ms,
        )?;
        eprintln!(
            "prefilled {} readings in {:.0} s",
            args.prefill,
            at.elapsed().as_secs_f64()
        );
    }
    // Measured from a settled database, with and without a prefill: what
    // the filling left dirty (gigabytes after 30 M readings) written out
    // first, by PostgreSQL and by the kernel, rather than during the
    // measured writes.
    settle(&db)?;
    let (mut written, mut next) = (0u64, 0usize);
    if args.statements {
        db.client()?
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .context("pg_stat_statements made (as a superuser)")?;
    }
    let mut measure = |store: &mut Store, what: &str| -> anyhow::Result<()> {
        // Each relation's blocks before, to subtract: resetting them would
        // also reset what autovacuum decides by.
        let before = if args.statements {
            let mut c = db.client()?;
            c.batch_execute("SELECT pg_stat_statements_reset()")
                .context("pg_stat_statements reset (is it in shared_preload_libraries?)")?;
            relation_blocks(&mut c)?
        } else {
            HashMap::new()
        };
        let (mut batches, goal) = (0u64, written + args.readings);
        let (started, mut writing) = (Instant::now(), std::time::Duration::ZERO);
        while written < goal {
            let size = per_batch.min(goal - written);
            let t0 = start_ms + (written as i64 * 1000) / args.rate as i64;
            let records = batch(&mut beds, &mut next, size, t0, &args);
            let at = Instant::now();
            store.write(&records, &[])?;
            writing += at.elapsed();
            written += size;
            batches += 1;
            if batches % 1000 == 0 {
                eprintln!("{written} readings stored");
            }
        }
        println!(
            "{what}: stored {} readings in {batches} batches of ≤ {per_batch} in {:.1} s ({:.0} readings/s in Store::write)",
            args.readings,
            started.elapsed().as_secs_f64(),
            args.readings as f64 / writing.as_secs_f64()
        );
        if args.statements {
            print_statements(&mut db.client()?, args.readings, &before)?;
        }
        Ok(())
    };
    measure(&mut store, "all migrations")?;
    if args.prefill > 0 && args.revert_between > 0 {
        drop(store);
        for _ in 0..args.revert_between {
            let at = Instant::now();
            ehr_migrations::revert_last(&db.url)?;
            println!("reverted one in {:.1} s", at.elapsed().as_secs_f64());
        }
        let mut reverted = Store::connect(&db.url, &escrow.address().to_string())?;
        measure(
            &mut reverted,
            &format!("last {} reverted", args.revert_between),
        )?;
        drop(reverted);
        for _ in 0..args.revert_between {
            let at = Instant::now();
            ehr_migrations::apply_next(&db.url)?;
            println!("applied again in {:.1} s", at.elapsed().as_secs_f64());
        }
        store = Store::connect(&db.url, &escrow.address().to_string())?;
        measure(&mut store, "all migrations again")?;
    }
    if args.prefill > 0 {
        return Ok(());
    }
    let mut c = db.client()?;
    print_bytes(&mut c, written)?;
    if args.time_migrations > 0 {
        drop(store);
        let names: Vec<String> = c
            .query(
                "SELECT version FROM __diesel_schema_migrations ORDER BY version DESC LIMIT $1",
                &[&(args.time_migrations as i64)],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for name in &names {
            let at = Instant::now();
            ehr_migrations::revert_last(&db.url)?;
            println!(
                "migration {name} over {written} readings: reverted in {:.1} s",
                at.elapsed().as_secs_f64()
            );
        }
        for name in names.iter().rev() {
            let at = Instant::now();
            ehr_migrations::apply_next(&db.url)?;
            let up = at.elapsed().as_secs_f64();
            println!(
                "migration {name} over {written} readings: applied in {up:.1} s ({:.1} s a million)",
                up * 1e6 / written as f64
            );
        }
        print_bytes(&mut c, written)?;
    }
    if args.rebuild {
        let days: Vec<String> = c
            .query(
                "SELECT DISTINCT (measured_at AT TIME ZONE 'UTC')::date::text FROM ingest.records",
                &[],
            )?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        for day in &days {
            let at = Instant::now();
            let d = ehr_migrations::rebuild_day_keys(&mut c, day)?;
            println!(
                "rebuilt the keys of {day} in {:.1} s: {} → {} bytes",
                at.elapsed().as_secs_f64(),
                d.before,
                d.after
            );
        }
        print_bytes(&mut c, written)?;
    }
    if args.close {
        let at = Instant::now();
        ehr_migrations::close_days(&db.url, |d| {
            println!(
                "closed {} ({} readings, {})",
                d.day,
                d.readings,
                ehr_migrations::values_closed(d)
            )
        })?;
        println!(
            "days closed in {:.1} s ({:.1} s a million readings)",
            at.elapsed().as_secs_f64(),
            at.elapsed().as_secs_f64() * 1e6 / written as f64
        );
        print_bytes(&mut c, written)?;
    }
    Ok(())
}

/// The statements of this database since the last reset, costliest first:
/// µs, buffers read from outside PostgreSQL's cache, buffers dirtied and
/// WAL bytes, each per reading written.
fn print_statements(
    c: &mut postgres::Client,
    readings: u64,
    before: &HashMap<String, (i64, i64)>,
) -> anyhow::Result<()> {
    let rows = c.query(
        "SELECT s.calls, s.total_exec_time, s.shared_blks_read, s.shared_blks_dirtied,
                s.wal_bytes::float8, s.blk_read_time, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90)
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = current_database() ORDER BY s.total_exec_time DESC LIMIT 12",
        &[],
    )?;
    let per = |x: f64| x / readings as f64;
    println!("  µs/reading  reads  dirtied  WAL B  read ms  calls  statement");
    for r in rows {
        let (calls, ms, read, dirtied): (i64, f64, i64, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let (wal, read_ms, query): (f64, f64, String) = (r.get(4), r.get(5), r.get(6));
        println!(
            "  {:>10.2}  {:>5.3}  {:>7.3}  {:>5.0}  {:>7.0}  {calls:>5}  {query}",
            per(ms * 1000.0),
            per(read as f64),
            per(dirtied as f64),
            per(wal),
            read_ms
        );
    }
    // Where the blocks read from outside PostgreSQL's cache came from,
    // once the writer's last figures are out (a backend sends them within
    // PostgreSQL 15's 10 s idle interval).
    std::thread::sleep(std::time::Duration::from_secs(11));
    let mut read: Vec<(String, i64, i64)> = relation_blocks(c)?
        .into_iter()
        .map(|(name, (r, h))| {
            let (r0, h0) = before.get(&name).copied().unwrap_or_default();
            (name, r - r0, h - h0)
        })
        .collect();
    read.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
    println!("  reads/reading  hits/reading  relation");
    for (name, r, h) in read.into_iter().take(6) {
        println!("  {:>13.3}  {:>12.3}  {name}", per(r as f64), per(h as f64));
    }
    Ok(())
}

/// Blocks read from outside PostgreSQL's cache and found in it, by table
/// (with its TOAST) and index.
fn relation_blocks(c: &mut postgres::Client) -> anyhow::Result<HashMap<String, (i64, i64)>> {
    Ok(c.query(
        "SELECT schemaname || '.' || relname || ' (table)',
                heap_blks_read + coalesce(toast_blks_read, 0), heap_blks_hit + coalesce(toast_blks_hit, 0)
         FROM pg_statio_user_tables
         UNION ALL SELECT schemaname || '.' || indexrelname || ' (index)', idx_blks_read, idx_blks_hit
         FROM pg_statio_user_indexes",
        &[],
    )?
    .into_iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2))))
    .collect())
}

/// A checkpoint, then the kernel's dirty pages written (`sync`).
fn settle(db: &TestDatabase) -> anyhow::Result<()> {
    let at = Instant::now();
    db.client()?
        .batch_execute("CHECKPOINT")
        .context("a checkpoint (the owner may run one)")?;
    std::process::Command::new("sync")
        .status()
        .context("sync runs")?;
    eprintln!("settled in {:.1} s", at.elapsed().as_secs_f64());
    Ok(())
}

/// Every table (with its TOAST) and index of `ingest` and `analytics`, in
/// bytes and bytes a reading, after `VACUUM ANALYZE`.
fn print_bytes(c: &mut postgres::Client, written: u64) -> anyhow::Result<()> {
    c.batch_execute("VACUUM ANALYZE")?;
    let rows = c.query(
        "SELECT n.nspname || '.' || c.relname, c.relkind::text,
                pg_relation_size(c.oid) + coalesce(pg_relation_size(c.reltoastrelid), 0)
                  + coalesce((SELECT sum(pg_relation_size(i.indexrelid)) FROM pg_index i
                              WHERE i.indrelid = c.reltoastrelid), 0)::bigint
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('ingest', 'analytics') AND c.relkind IN ('r', 'i', 'p')
         ORDER BY 3 DESC",
        &[],
    )?;
    let ciphertext: f64 = c
        .query_one(
            "SELECT avg(length(ciphertext))::float8 FROM ingest.records",
            &[],
        )?
        .get(0);
    println!("ciphertext: {ciphertext:.0} bytes a reading on average");
    let mut total = 0i64;
    println!("relation\tkind\tbytes\tbytes per reading");
    for r in &rows {
        let (name, kind, bytes): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
        total += bytes;
        let kind = if kind == "i" { "index" } else { "table" };
        println!(
            "{name}\t{kind}\t{bytes}\t{:.1}",
            bytes as f64 / written as f64
        );
    }
    println!("total\t\t{total}\t{:.1}", total as f64 / written as f64);
    Ok(())
}
