//! Retention: a day of stored readings leaves the database whole. Its
//! partition (`ingest.records_YYYYMMDD`, migration 015) is written out as
//! JSON lines — each record as the gateway would serve it, ciphertext, leaf
//! and anchor with its full Merkle path (`ArchivedRecord`) — every line
//! checked against its batch's root before anything is dropped; the file's
//! SHA-256 is kept in `ingest.record_days`; then the partition is detached
//! and dropped, in the same transaction. An archived record stays provable
//! against its anchor on chain (`ehr verify-archive`), and its data key's
//! wraps stay in the database, so the patient still opens it — or an
//! erasure of hers still shreds it (`ingest.archived_keys`).
//!
//! Run by the database's owner (ingest cannot drop tables), on days no
//! reading can arrive for any more (readings are refused 30 days late).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ehr_client::read_path::api::{AnchorProof, ArchivedRecord, RecordItem};
use ehr_ledger::crypto::block_tree::{self, Layout};
use ehr_ledger::crypto::merkle::{self, Hash};
use ehr_ledger::ledger::access::category_name;
use ehr_ledger::proto::Category;
use ehr_migrations::db_message;
use sha2::{Digest, Sha256};

use crate::reading::MAX_AGE_MS;

/// Rows fetched at a time: a day of a large hospital is tens of millions.
const ROWS_PER_FETCH: i32 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("PostgreSQL: {}", db_message(.0))]
    Db(#[from] postgres::Error),
    #[error("{0}: {1}")]
    File(PathBuf, std::io::Error),
    #[error("{0} has no partition of readings (never made, or archived already — see ingest.record_days)")]
    NoPartition(String),
    #[error("readings measured on {day} may still arrive (up to 30 days late): archive days before {first_open}")]
    StillOpen { day: String, first_open: String },
    #[error("{batches} batch(es) holding readings of {day} are not anchored on chain yet: archive it once they are")]
    NotAnchored { day: String, batches: i64 },
    #[error(
        "the readings of {0} changed while being written out (an erasure): run ehr-archive again"
    )]
    Changed(String),
    #[error("{written} of the {held} readings of {day} were written out (a row names a pair or a data key number PostgreSQL does not hold): nothing of {day} was archived")]
    Incomplete {
        day: String,
        written: i64,
        held: i64,
    },
    #[error("record {seq} of {day} does not prove against its batch's root ({why}): nothing of {day} was archived")]
    Unproven {
        day: String,
        seq: i64,
        why: &'static str,
    },
}

/// What archiving one day did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayArchive {
    pub day: String,
    pub records: i64,
    pub sha256: [u8; 32],
    pub file: PathBuf,
}

/// The days (YYYY-MM-DD) with a partition of readings, not archived,
/// measured before `before` and no longer open to late readings.
pub fn archivable_days(
    db: &mut postgres::Client,
    before: &str,
) -> Result<Vec<String>, ArchiveError> {
    let first_open = first_open_day(db)?;
    Ok(db
        .query(
            "SELECT to_char(day, 'YYYY-MM-DD') FROM ingest.record_days
             WHERE archived_at IS NULL AND day < $1::text::date AND day < $2::text::date ORDER BY day",
            &[&before, &first_open],
        )?
        .into_iter()
        .map(|r| r.get(0))
        .collect())
}

/// The first day a reading may still arrive for, by the database's clock.
fn first_open_day(db: &mut postgres::Client) -> Result<String, ArchiveError> {
    Ok(db
        .query_one(
            "SELECT to_char((now() AT TIME ZONE 'UTC')::date - ($1::bigint / 86400000)::int - 1, 'YYYY-MM-DD')",
            &[&MAX_AGE_MS],
        )?
        .get(0))
}

/// Archives the readings measured on `day` (YYYY-MM-DD) into
/// `<out>/records-<day>.jsonl`, then detaches and drops their partition.
/// Nothing is dropped unless every line was written, synced and proven.
///
/// The day is written out from a snapshot, taking no lock (ingest and the
/// gateway go on); then, in a short transaction holding the readings' table
/// (at most 10 s waited for it), the day is checked unchanged — an erasure
/// meanwhile means it is written out again — recorded, detached and dropped.
pub fn archive_day(
    db: &mut postgres::Client,
    day: &str,
    out: &Path,
) -> Result<DayArchive, ArchiveError> {
    let first_open = first_open_day(db)?;
    let open: bool = db
        .query_one(
            "SELECT $1::text::date >= $2::text::date",
            &[&day, &first_open],
        )?
        .get(0);
    if open {
        return Err(ArchiveError::StillOpen {
            day: day.to_string(),
            first_open,
        });
    }
    let made = db.query_opt(
        "SELECT to_char(day, 'YYYYMMDD') FROM ingest.record_days
         WHERE day = $1::text::date AND archived_at IS NULL",
        &[&day],
    )?;
    let Some(made) = made else {
        return Err(ArchiveError::NoPartition(day.to_string()));
    };
    let partition = format!("ingest.records_{}", made.get::<_, String>(0));
    let file = out.join(format!("records-{day}.jsonl"));
    // A name of this run's own: two runs on one day never share a file.
    let partial = out.join(format!(
        ".records-{day}.jsonl.{}.partial",
        std::process::id()
    ));
    let (records, sha256, fingerprint, keys) = {
        let mut snapshot = db
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let pending: i64 = snapshot
            .query_one(
                &format!(
                    "SELECT count(DISTINCT b.batch_id) FROM {partition} r
                     JOIN ingest.batches b ON b.batch_id = coalesce(r.batch_id, ingest.batch_of(r.record_seq))
                     WHERE b.status <> 'committed' OR b.height IS NULL OR b.service IS NULL"
                ),
                &[],
            )?
            .get(0);
        if pending > 0 {
            return Err(ArchiveError::NotAnchored {
                day: day.to_string(),
                batches: pending,
            });
        }
        let fingerprint = day_fingerprint(&mut snapshot, &partition)?;
        let keys = keys_of_day(&mut snapshot, &partition)?;
        let written = write_day(&mut snapshot, &partition, day, &partial);
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        let (records, sha256) = written?;
        // Every row of the day is in the file, or the day stays: a row the
        // export's joins drop would be lost with the partition.
        if records != fingerprint.0 {
            let _ = std::fs::remove_file(&partial);
            return Err(ArchiveError::Incomplete {
                day: day.to_string(),
                written: records,
                held: fingerprint.0,
            });
        }
        (records, sha256, fingerprint, keys)
    };
    let dropped = drop_day(
        db,
        day,
        &partition,
        fingerprint,
        &keys,
        records,
        &sha256,
        &partial,
        &file,
    );
    if dropped.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    dropped?;
    Ok(DayArchive {
        day: day.to_string(),
        records,
        sha256,
        file,
    })
}

/// What an erasure changes in a day: its rows, and how many are erased.
fn day_fingerprint(
    tx: &mut postgres::Transaction,
    partition: &str,
) -> Result<(i64, i64), postgres::Error> {
    let r = tx.query_one(
        &format!("SELECT count(*), count(erasure_id) FROM {partition}"),
        &[],
    )?;
    Ok((r.get(0), r.get(1)))
}

/// The data keys of a day's readings not erased, each with its category,
/// its patient and the highest anchor of what it opens: what
/// `ingest.archived_keys` keeps of them for erasures after the archive.
struct DayKeys {
    key_id: Vec<String>,
    category: Vec<i16>,
    patient: Vec<String>,
    height: Vec<Option<i64>>,
}

/// A day's [`DayKeys`], read in the export's snapshot: the day's short
/// transaction only inserts them (its fingerprint proves the day the same),
/// where reading them would hold the readings' table for the whole day's
/// rows, each closed one's batch found by its number.
fn keys_of_day(
    tx: &mut postgres::Transaction,
    partition: &str,
) -> Result<DayKeys, postgres::Error> {
    let rows = tx.query(
        &format!(
            "SELECT k.key_id, r.category, min(d.patient), max(b.height) FROM {partition} r
             JOIN ingest.batches b ON b.batch_id = coalesce(r.batch_id, ingest.batch_of(r.record_seq))
             JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
             JOIN ingest.data_keys k ON k.key_no = r.key_no
             WHERE r.erasure_id IS NULL GROUP BY k.key_id, r.category"
        ),
        &[],
    )?;
    Ok(DayKeys {
        key_id: rows.iter().map(|r| r.get(0)).collect(),
        category: rows.iter().map(|r| r.get(1)).collect(),
        patient: rows.iter().map(|r| r.get(2)).collect(),
        height: rows.iter().map(|r| r.get(3)).collect(),
    })
}

/// The short transaction that ends a day: its table held, the day checked
/// as written out, its keys kept for erasures, the archive put in place and
/// recorded, the partition detached and dropped.
#[allow(clippy::too_many_arguments)]
fn drop_day(
    db: &mut postgres::Client,
    day: &str,
    partition: &str,
    fingerprint: (i64, i64),
    keys: &DayKeys,
    records: i64,
    sha256: &[u8; 32],
    partial: &Path,
    file: &Path,
) -> Result<(), ArchiveError> {
    let mut tx = db.transaction()?;
    // Not while the day is being closed (its partition is swapped).
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&ehr_migrations::CLOSING_LOCK],
    )?;
    tx.batch_execute(
        "SET LOCAL lock_timeout = '10s'; LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE",
    )?;
    let still = tx
        .query_opt(
            "SELECT 1 FROM ingest.record_days WHERE day = $1::text::date AND archived_at IS NULL FOR UPDATE",
            &[&day],
        )?
        .is_some();
    if !still {
        return Err(ArchiveError::NoPartition(day.to_string()));
    }
    if day_fingerprint(&mut tx, partition)? != fingerprint {
        return Err(ArchiveError::Changed(day.to_string()));
    }
    // An erasure after today still finds the keys of the archived readings,
    // with the highest anchor of what each opens.
    tx.execute(
        "INSERT INTO ingest.archived_keys (key_id, category, patient, height)
         SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::bigint[])
         ON CONFLICT (key_id, category) DO UPDATE
           SET height = greatest(ingest.archived_keys.height, EXCLUDED.height)",
        &[&keys.key_id, &keys.category, &keys.patient, &keys.height],
    )?;
    tx.execute(
        "UPDATE ingest.record_days SET archived_at = now(), archived_records = $2, archive_sha256 = $3
         WHERE day = $1::text::date",
        &[&day, &records, &sha256.as_slice()],
    )?;
    tx.batch_execute(&format!(
        "ALTER TABLE ingest.records DETACH PARTITION {partition}; DROP TABLE {partition};"
    ))?;
    let out = file.parent().unwrap_or(Path::new("."));
    std::fs::rename(partial, file).map_err(io(file))?;
    File::open(out)
        .and_then(|d| d.sync_all())
        .map_err(io(out))?;
    if let Err(e) = tx.commit() {
        // Not archived after all: no file claims it was.
        let _ = std::fs::remove_file(file);
        return Err(e.into());
    }
    Ok(())
}

/// An I/O error's mapping, naming the file.
fn io(p: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError {
    let p = p.to_path_buf();
    move |e| ArchiveError::File(p, e)
}

/// Writes the day's records, each proven, as JSON lines to `partial`,
/// synced; how many, and the file's SHA-256.
fn write_day(
    tx: &mut postgres::Transaction,
    partition: &str,
    day: &str,
    partial: &Path,
) -> Result<(i64, [u8; 32]), ArchiveError> {
    let mut writer = BufWriter::new(File::create(partial).map_err(io(partial))?);
    let mut hasher = Sha256::new();
    let mut paths = BatchPaths::default();
    let mut records = 0i64;
    let portal = tx.bind(
        &format!(
            "SELECT r.record_seq, ingest.record_id(d.device_id, r.device_seq), d.patient, r.category, d.device_id, r.loinc,
                    (extract(epoch FROM r.measured_at) * 1000)::bigint, r.ciphertext, r.ciphertext_sha256,
                    k.key_id, r.erasure_id, b.batch_id, l.leaf_index, r.merkle_path,
                    b.record_count, b.merkle_root, b.height, b.service
             FROM {partition} r
             JOIN ingest.batches b ON b.batch_id = coalesce(r.batch_id, ingest.batch_of(r.record_seq))
             CROSS JOIN LATERAL (SELECT coalesce(r.leaf_index, (r.record_seq - b.first_record)::integer)) l(leaf_index)
             JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
             JOIN ingest.data_keys k ON k.key_no = r.key_no
             ORDER BY b.batch_id, l.leaf_index"
        ),
        &[],
    )?;
    loop {
        let rows = tx.query_portal(&portal, ROWS_PER_FETCH)?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            let seq: i64 = r.get(0);
            let unproven = |why| ArchiveError::Unproven {
                day: day.to_string(),
                seq,
                why,
            };
            let ciphertext: Option<Vec<u8>> = r.get(7);
            let batch = StoredBatch {
                id: r.get(11),
                count: r.get(14),
            };
            let index: i32 = r.get(12);
            let stored_path: Option<Vec<u8>> = r.get(13);
            let (tree_leaf, path) = paths
                .path(tx, &batch, index, stored_path.as_deref())?
                .ok_or_else(|| unproven("its batch keeps no path for it"))?;
            // The leaf its batch's tree holds, or (batches from before
            // trees) its row's.
            let leaf: Vec<u8> = tree_leaf
                .map(Vec::from)
                .or_else(|| r.get(8))
                .ok_or_else(|| unproven("neither its batch's tree nor its row holds its leaf"))?;
            if ciphertext
                .as_ref()
                .is_some_and(|c| Sha256::digest(c).as_slice() != leaf)
            {
                return Err(unproven("its ciphertext does not hash to its leaf"));
            }
            let root: Vec<u8> = r.get(15);
            let root: Hash = root
                .try_into()
                .map_err(|_| unproven("its batch's root is not 32 bytes"))?;
            let fits = usize::try_from(index)
                .ok()
                .zip(usize::try_from(batch.count).ok())
                .is_some_and(|(i, n)| merkle::verify(&root, &leaf, i, n, &path));
            if !fits {
                return Err(unproven("its path does not lead to the root"));
            }
            let category =
                Category::try_from(i32::from(r.get::<_, i16>(3))).unwrap_or(Category::Unspecified);
            let line = ArchivedRecord {
                patient: r.get(2),
                record: RecordItem {
                    record_id: r.get(1),
                    seq,
                    category: category_name(category).to_string(),
                    device_id: r.get(4),
                    loinc: r.get(5),
                    measured_at_ms: r.get(6),
                    ciphertext: ciphertext.map(|c| B64.encode(c)).unwrap_or_default(),
                    ciphertext_sha256: hex::encode(&leaf),
                    key_id: r.get(9),
                    wrapped_key: None,
                    key_source: None,
                    anchor: Some(AnchorProof {
                        service: r.get(17),
                        batch_id: batch.id as u64,
                        leaf_index: index as u64,
                        leaf_count: batch.count as u64,
                        merkle_root: hex::encode(root),
                        path: path.iter().map(hex::encode).collect(),
                        height: r.get::<_, i64>(16) as u64,
                    }),
                    erasure_id: r.get::<_, Option<i64>>(10).map(|e| e as u64),
                },
            };
            let mut bytes = serde_json::to_vec(&line).expect("a record serialises");
            bytes.push(b'\n');
            hasher.update(&bytes);
            writer.write_all(&bytes).map_err(io(partial))?;
            records += 1;
        }
    }
    let f = writer
        .into_inner()
        .map_err(|e| ArchiveError::File(partial.to_path_buf(), e.into_error()))?;
    f.sync_all().map_err(io(partial))?;
    Ok((records, hasher.finalize().into()))
}

struct StoredBatch {
    id: i64,
    count: i32,
}

/// The paths of the batch being read out, from wherever it keeps them (the
/// gateway's rules, `gateway/src/proofs.rs`): its block tree (with the
/// record's leaf), a path stored with the record, or rebuilt from the
/// batch's leaves. One batch at a time: the rows come ordered by batch.
/// A record's leaf as its batch's tree holds it (`None`: the batch keeps no
/// tree, the row holds the leaf), and its path.
type LeafAndPath = (Option<Hash>, Vec<Hash>);

#[derive(Default)]
struct BatchPaths {
    batch: Option<i64>,
    tree: Option<(Layout, Vec<u8>)>,
    rebuilt: Option<Vec<Vec<Hash>>>,
}

impl BatchPaths {
    fn path(
        &mut self,
        tx: &mut postgres::Transaction,
        batch: &StoredBatch,
        index: i32,
        stored: Option<&[u8]>,
    ) -> Result<Option<LeafAndPath>, postgres::Error> {
        if let Some(p) = stored.filter(|p| p.len() % 32 == 0) {
            return Ok(Some((
                None,
                p.chunks(32)
                    .map(|h| h.try_into().expect("32-byte chunks"))
                    .collect(),
            )));
        }
        if self.batch != Some(batch.id) {
            self.batch = Some(batch.id);
            self.rebuilt = None;
            self.tree = tx
                .query_opt(
                    "SELECT block_bits, tree FROM ingest.batch_trees WHERE batch_id = $1",
                    &[&batch.id],
                )?
                .and_then(|r| {
                    let bits = u32::try_from(r.get::<_, i16>(0)).ok()?;
                    let layout = Layout::new(usize::try_from(batch.count).ok()?, bits)?;
                    Some((layout, r.get(1)))
                });
        }
        let Ok(index) = usize::try_from(index) else {
            return Ok(None);
        };
        if let Some((layout, blob)) = &self.tree {
            return Ok(layout
                .slice_of(index)
                .and_then(|range| blob.get(range))
                .and_then(|slice| block_tree::path_from(slice, layout, index))
                .map(|(leaf, path)| (Some(leaf), path)));
        }
        if self.rebuilt.is_none() {
            // Rows of batches from before trees keep their leaves; a batch
            // with a row that keeps none has lost its tree: no path. Read
            // as the gateway reads them (its `store::leaves`): the days of
            // the 30 before the batch was written.
            let leaves: Option<Vec<Vec<u8>>> = tx
                .query(
                    "SELECT r.ciphertext_sha256 FROM ingest.batches b
                     JOIN ingest.records r ON r.record_seq BETWEEN b.first_record AND b.last_record
                                          AND r.measured_at >= b.created_at - interval '31 days'
                                          AND r.measured_at < b.created_at + interval '1 day'
                     WHERE b.batch_id = $1 ORDER BY r.record_seq",
                    &[&batch.id],
                )?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            self.rebuilt = Some(leaves.map(|l| merkle::proofs(&l)).unwrap_or_default());
        }
        Ok(self
            .rebuilt
            .as_ref()
            .and_then(|p| p.get(index).cloned())
            .map(|path| (None, path)))
    }
}
