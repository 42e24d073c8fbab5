//! The gateway's reads and writes in PostgreSQL: records of the ingest store
//! with the key wrapped for the caller, a patient's own keys, wraps uploaded by
//! patients; and its own clinical documents with their wraps.

use ehr_ledger::proto::Category;
use tokio_postgres::Client;

/// One stored record as the gateway serves it.
pub struct StoredRecord {
    pub seq: i64,
    pub record_id: String,
    pub category: Category,
    pub device_id: String,
    pub loinc: String,
    pub measured_at_ms: i64,
    /// `None` once erased.
    pub ciphertext: Option<Vec<u8>>,
    /// Its leaf, as the row keeps it: only records of batches written
    /// before batches kept their trees (since, the leaf is the tree's).
    pub ciphertext_sha256: Option<Vec<u8>>,
    pub erasure_id: Option<i64>,
    pub batch_id: i64,
    pub leaf_index: i32,
    /// How many records its batch holds.
    pub leaf_count: i32,
    /// The id the record's data key is wrapped under.
    pub key_id: String,
    /// The data key wrapped for the caller, if any.
    pub wrapped_key: Option<Vec<u8>>,
    /// The break-glass escrow wrap for this gateway (only fetched under emergency).
    pub escrow_key: Option<Vec<u8>>,
    /// Set once the batch is anchored: (service, height, root, leaf count).
    pub anchored: Option<(String, i64, Vec<u8>, i32)>,
    /// The Merkle path stored with the record (32-byte hashes, leaf to root),
    /// for records stored before batches kept their trees.
    pub merkle_path: Option<Vec<u8>>,
    /// The width of its batch tree's blocks, when the batch keeps one.
    pub block_bits: Option<i16>,
}

pub struct RecordFilter<'a> {
    pub patient: &'a str,
    /// `None`: every category.
    pub category: Option<Category>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Only readings of these LOINC codes; `None`: any.
    pub loinc: Option<Vec<String>>,
    pub after: i64,
    pub limit: i64,
}

/// Where the days no reading can reach any more end (unix seconds): the
/// days `ehr-db close-days` closes (`ehr_migrations::CLOSED_AFTER_DAYS`).
fn closed_days_end() -> i64 {
    const DAY: i64 = 86_400;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    (now / DAY - i64::from(ehr_migrations::CLOSED_AFTER_DAYS) + 1) * DAY
}

pub async fn records(
    db: &Client,
    f: &RecordFilter<'_>,
    caller: &str,
    caller_key: &[u8],
    escrow_reader: Option<&str>,
) -> Result<Vec<StoredRecord>, tokio_postgres::Error> {
    let category = f.category.map(|c| c as i16);
    // Her pairs' numbers first, given to the page's query as values. Left to
    // a subquery, PostgreSQL cannot tell how many rows are hers, and for a
    // page after a low record number it walked the day's primary key in
    // order, filtering every other patient's readings out (51 ms against
    // 2 ms at 200 000 readings a day, worse as the day grows).
    let pairs: Vec<i32> = db
        .query_one("SELECT ingest.pairs_of($1)", &[&f.patient])
        .await?
        .get(0);
    // Her readings of the window after the page's record number: on an open
    // day, each of her pairs' next ones in record order through its primary
    // key (pair, record, time), a page's worth each; on a closed day (sorted
    // by pair and record, one BRIN), her pairs' runs in one scan.
    let (her_rows, per_pair_end) = if f.to.is_some_and(|to| to <= closed_days_end()) {
        (
            "SELECT * FROM ingest.records WHERE pair_no = ANY($1::int[]) AND",
            "",
        )
    } else {
        (
            "SELECT x.* FROM unnest($1::int[]) AS p(pair_no),
             LATERAL (SELECT * FROM ingest.records WHERE pair_no = p.pair_no AND",
            "ORDER BY record_seq LIMIT $8) x",
        )
    };
    let rows = db
        .query(
            &format!("SELECT r.record_seq, ingest.record_id(d.device_id, r.device_seq), r.category, d.device_id, r.loinc,
                    (extract(epoch FROM r.measured_at) * 1000)::bigint,
                    r.ciphertext, r.ciphertext_sha256, b.batch_id,
                    coalesce(r.leaf_index, (r.record_seq - b.first_record)::integer),
                    w.wrapped_key, e.wrapped_key,
                    b.status, b.service, b.height, b.merkle_root, b.record_count,
                    r.merkle_path, k.key_id, r.erasure_id, t.block_bits
             -- The page first, then what it joins: joined before the limit,
             -- every record of the patient would be (a hash of every batch).
             -- Each row names its pair, a pair its patient; a closed row
             -- its batch only where its number does not say it
             -- (ingest.batch_of).
             FROM ({her_rows}
                       ($4::smallint IS NULL OR category = $4)
                       -- Bounds as values (never `$5 IS NULL OR …`), so
                       -- that only the window's days are read.
                       AND measured_at >= coalesce(to_timestamp($5::bigint), '-infinity')
                       AND measured_at < coalesce(to_timestamp($6::bigint), 'infinity')
                       AND record_seq > $7
                       AND ($9::text[] IS NULL OR loinc = ANY($9))
                   {per_pair_end}
                   ORDER BY record_seq
                   LIMIT $8) r
             JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
             JOIN ingest.data_keys k ON k.key_no = r.key_no
             JOIN ingest.batches b ON b.batch_id = coalesce(r.batch_id, ingest.batch_of(r.record_seq))
             LEFT JOIN ingest.batch_trees t ON t.batch_id = b.batch_id
             LEFT JOIN ingest.wrapped_keys w ON w.key_id = k.key_id AND w.reader = $2
                                          AND w.reader_public_key = $10
             LEFT JOIN ingest.wrapped_keys e ON e.key_id = k.key_id AND e.reader = $3
             ORDER BY r.record_seq"),
            &[
                &pairs,
                &caller,
                &escrow_reader,
                &category,
                &f.from,
                &f.to,
                &f.after,
                &f.limit,
                &f.loinc,
                &caller_key,
            ],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let status: String = r.get(12);
            let service: Option<String> = r.get(13);
            let height: Option<i64> = r.get(14);
            let anchored = match (status.as_str(), service, height) {
                ("committed", Some(s), Some(h)) => Some((s, h, r.get(15), r.get(16))),
                _ => None,
            };
            StoredRecord {
                seq: r.get(0),
                record_id: r.get(1),
                category: Category::try_from(i32::from(r.get::<_, i16>(2)))
                    .unwrap_or(Category::Unspecified),
                device_id: r.get(3),
                loinc: r.get(4),
                measured_at_ms: r.get(5),
                ciphertext: r.get(6),
                ciphertext_sha256: r.get(7),
                erasure_id: r.get(19),
                batch_id: r.get(8),
                leaf_index: r.get(9),
                leaf_count: r.get(16),
                key_id: r.get(18),
                wrapped_key: r.get(10),
                escrow_key: r.get(11),
                anchored,
                merkle_path: r.get(17),
                block_bits: r.get(20),
            }
        })
        .collect())
}

/// Slices of batch trees, each `(batch_id, start, length)` (bytes, from 0),
/// in one round trip: only the TOAST chunks they lie in are read. A slice
/// beyond a stored tree comes back shorter (and derives no path).
pub async fn tree_slices(
    db: &Client,
    wanted: &[(i64, i32, i32)],
) -> Result<Vec<((i64, i32), Vec<u8>)>, tokio_postgres::Error> {
    let batch: Vec<i64> = wanted.iter().map(|w| w.0).collect();
    let start: Vec<i32> = wanted.iter().map(|w| w.1).collect();
    let length: Vec<i32> = wanted.iter().map(|w| w.2).collect();
    let rows = db
        .query(
            "SELECT k.batch_id, k.start, substring(t.tree FROM k.start + 1 FOR k.length)
             FROM unnest($1::bigint[], $2::int[], $3::int[]) AS k(batch_id, start, length)
             JOIN ingest.batch_trees t ON t.batch_id = k.batch_id",
            &[&batch, &start, &length],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// The leaf hashes of a batch, in order, as its rows keep them (batches
/// written before trees; a row of a later batch keeps none: `None`). A
/// batch's readings were measured in the 30 days (and 5 minutes) before it
/// was written: only those days are read, by record number (the history's
/// primary key; a day's leads with the pair, and such a day is read whole).
pub async fn leaves(
    db: &Client,
    batch_id: i64,
) -> Result<Option<Vec<Vec<u8>>>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT r.ciphertext_sha256 FROM ingest.batches b
             JOIN ingest.records r ON r.record_seq BETWEEN b.first_record AND b.last_record
                                    AND r.measured_at >= b.created_at - interval '31 days'
                                    AND r.measured_at < b.created_at + interval '1 day'
             WHERE b.batch_id = $1 ORDER BY r.record_seq",
            &[&batch_id],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// One of the caller's wraps of a data key, with the last record under it
/// (for paging) and how many records it opens.
pub struct OwnKeyRow {
    pub last_seq: i64,
    pub key_id: String,
    pub category: Category,
    pub wrapped_key: Vec<u8>,
    pub records: i64,
}

/// A reader, and the key they hold now when the chain names one.
pub struct Reader<'a> {
    pub address: &'a str,
    pub key: Option<&'a [u8]>,
}

/// The caller's own wraps of a patient's data keys that `missing_for` has no
/// wrap for (for their current key, when known): one row per key, with all
/// its records — keys paged by their last record, so that a key whose
/// records interleave with another's (two ingest instances) is counted
/// whole on one page.
pub async fn own_keys_missing_for(
    db: &Client,
    patient: &str,
    category: Option<Category>,
    caller: &str,
    missing_for: &Reader<'_>,
    after: i64,
    limit: i64,
) -> Result<Vec<OwnKeyRow>, tokio_postgres::Error> {
    let category = category.map(|c| c as i16);
    let rows = db
        .query(
            "SELECT g.last_seq, k.key_id, g.category, w.wrapped_key, g.records
             -- Her readings by key first, then each key's id and wraps.
             FROM (SELECT max(r.record_seq) AS last_seq, r.key_no, r.category, count(*) AS records
                   FROM ingest.records r
                   WHERE r.pair_no = ANY((SELECT ingest.pairs_of($1))::int[])
                     AND ($3::smallint IS NULL OR r.category = $3)
                   GROUP BY r.key_no, r.category
                   HAVING max(r.record_seq) > $5) g
             JOIN ingest.data_keys k ON k.key_no = g.key_no
             JOIN ingest.wrapped_keys w ON w.key_id = k.key_id AND w.reader = $2
             WHERE NOT EXISTS (SELECT 1 FROM ingest.wrapped_keys m
                               WHERE m.key_id = k.key_id AND m.reader = $4
                                 AND ($7::bytea IS NULL OR m.reader_public_key = $7))
             ORDER BY g.last_seq
             LIMIT $6",
            &[
                &patient,
                &caller,
                &category,
                &missing_for.address,
                &after,
                &limit,
                &missing_for.key,
            ],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| OwnKeyRow {
            last_seq: r.get(0),
            key_id: r.get(1),
            category: Category::try_from(i32::from(r.get::<_, i16>(2)))
                .unwrap_or(Category::Unspecified),
            wrapped_key: r.get(3),
            records: r.get(4),
        })
        .collect())
}

/// The categories of the records under those of `key_ids` that are the
/// patient's; ids not found (or another patient's) are absent.
pub async fn categories_of(
    db: &Client,
    patient: &str,
    key_ids: &[String],
) -> Result<Vec<(String, Category)>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT DISTINCT k.key_id, r.category FROM ingest.records r
             JOIN ingest.data_keys k ON k.key_no = r.key_no
             WHERE r.pair_no = ANY((SELECT ingest.pairs_of($1))::int[]) AND k.key_id = ANY($2)",
            &[&patient, &key_ids],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.get(0),
                Category::try_from(i32::from(r.get::<_, i16>(1))).unwrap_or(Category::Unspecified),
            )
        })
        .collect())
}

/// Stores wraps for `reader` under `reader_public_key`: an existing wrap for
/// that key is kept, one made for another key of the reader (a rotated or
/// lost one) is replaced. Returns how many were stored.
pub async fn insert_wraps(
    db: &mut Client,
    reader: &str,
    reader_public_key: &[u8],
    wraps: &[(String, Vec<u8>)],
) -> Result<u64, tokio_postgres::Error> {
    upsert_wraps(
        db,
        "INSERT INTO ingest.wrapped_keys (key_id, reader, reader_public_key, wrapped_key)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (key_id, reader) DO UPDATE
           SET reader_public_key = EXCLUDED.reader_public_key,
               wrapped_key = EXCLUDED.wrapped_key
           WHERE ingest.wrapped_keys.reader_public_key <> EXCLUDED.reader_public_key",
        reader,
        reader_public_key,
        wraps,
    )
    .await
}

/// Runs `upsert` ($1 key or record id, $2 reader, $3 reader's key, $4 the
/// wrap) for each wrap in one transaction; how many rows it wrote.
async fn upsert_wraps(
    db: &mut Client,
    upsert: &str,
    reader: &str,
    reader_public_key: &[u8],
    wraps: &[(String, Vec<u8>)],
) -> Result<u64, tokio_postgres::Error> {
    let tx = db.transaction().await?;
    let upsert = tx.prepare(upsert).await?;
    let mut stored = 0;
    for (id, wrapped) in wraps {
        stored += tx
            .execute(&upsert, &[id, &reader, &reader_public_key, wrapped])
            .await?;
    }
    tx.commit().await?;
    Ok(stored)
}

/// One stored clinical document as the gateway serves it.
pub struct StoredDocument {
    pub seq: i64,
    pub record_id: String,
    pub category: Category,
    pub author: String,
    pub stored_at_ms: i64,
    /// `None` once erased.
    pub ciphertext: Option<Vec<u8>>,
    pub ciphertext_sha256: Vec<u8>,
    pub wrapped_key: Option<Vec<u8>>,
    pub escrow_key: Option<Vec<u8>>,
    pub erasure_id: Option<i64>,
}

/// A new document and its wraps (reader address, wrapped key).
pub struct NewDocument<'a> {
    pub record_id: &'a str,
    pub patient: &'a str,
    pub category: Category,
    pub author: &'a str,
    pub ciphertext: &'a [u8],
    pub ciphertext_sha256: &'a [u8],
    pub wraps: &'a [(String, Vec<u8>)],
}

/// Stores a document with its wraps in one transaction; `None` when its
/// record id is taken.
pub async fn insert_document(
    db: &mut Client,
    d: &NewDocument<'_>,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let tx = db.transaction().await?;
    let row = tx
        .query_opt(
            "INSERT INTO gateway.documents
                 (record_id, patient, category, author, ciphertext, ciphertext_sha256)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (record_id) DO NOTHING
             RETURNING seq",
            &[
                &d.record_id,
                &d.patient,
                &(d.category as i16),
                &d.author,
                &d.ciphertext,
                &d.ciphertext_sha256,
            ],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let insert = tx
        .prepare(
            "INSERT INTO gateway.document_keys (record_id, reader, wrapped_key) VALUES ($1, $2, $3)",
        )
        .await?;
    for (reader, wrapped) in d.wraps {
        tx.execute(&insert, &[&d.record_id, reader, wrapped])
            .await?;
    }
    tx.commit().await?;
    Ok(Some(row.get(0)))
}

pub async fn documents(
    db: &Client,
    patient: &str,
    category: Option<Category>,
    caller: &str,
    escrow_reader: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredDocument>, tokio_postgres::Error> {
    let category = category.map(|c| c as i16);
    let rows = db
        .query(
            "SELECT d.seq, d.record_id, d.category, d.author,
                    (extract(epoch FROM d.stored_at) * 1000)::bigint,
                    d.ciphertext, d.ciphertext_sha256, w.wrapped_key, e.wrapped_key,
                    d.erasure_id
             FROM gateway.documents d
             LEFT JOIN gateway.document_keys w ON w.record_id = d.record_id AND w.reader = $2
             LEFT JOIN gateway.document_keys e ON e.record_id = d.record_id AND e.reader = $3
             WHERE d.patient = $1
               AND ($4::smallint IS NULL OR d.category = $4)
               AND d.seq > $5
             ORDER BY d.seq
             LIMIT $6",
            &[&patient, &caller, &escrow_reader, &category, &after, &limit],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredDocument {
            seq: r.get(0),
            record_id: r.get(1),
            category: Category::try_from(i32::from(r.get::<_, i16>(2)))
                .unwrap_or(Category::Unspecified),
            author: r.get(3),
            stored_at_ms: r.get(4),
            ciphertext: r.get(5),
            ciphertext_sha256: r.get(6),
            wrapped_key: r.get(7),
            escrow_key: r.get(8),
            erasure_id: r.get(9),
        })
        .collect())
}

/// A data key of the patient's as this gateway's escrow holds it.
pub struct EscrowedKey {
    /// The last record (or document) under it, for paging.
    pub seq: i64,
    pub key_id: String,
    pub category: Category,
    pub escrow_key: Vec<u8>,
    /// The records it opens (a batch's readings share one key).
    pub record_ids: Vec<String>,
}

fn escrowed(rows: Vec<tokio_postgres::Row>) -> Vec<EscrowedKey> {
    rows.into_iter()
        .map(|r| EscrowedKey {
            seq: r.get(0),
            key_id: r.get(1),
            category: Category::try_from(i32::from(r.get::<_, i16>(2)))
                .unwrap_or(Category::Unspecified),
            escrow_key: r.get(3),
            record_ids: r.get(4),
        })
        .collect()
}

/// The keys of the patient's readings escrowed for `gateway` whose wrap for
/// the patient is missing or made for another key than `patient_key`, each
/// with all its records (paged by their last record, as above).
pub async fn escrowed_reading_keys(
    db: &Client,
    patient: &str,
    gateway: &str,
    patient_key: &[u8],
    after: i64,
    limit: i64,
) -> Result<Vec<EscrowedKey>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT max(r.record_seq) AS last_seq, k.key_id, r.category, e.wrapped_key,
                    array_agg(ingest.record_id(d.device_id, r.device_seq) ORDER BY r.record_seq)
             FROM ingest.records r
             JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
             JOIN ingest.data_keys k ON k.key_no = r.key_no
             JOIN ingest.wrapped_keys e ON e.key_id = k.key_id AND e.reader = $2
             WHERE r.pair_no = ANY((SELECT ingest.pairs_of($1))::int[])
               AND r.erasure_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM ingest.wrapped_keys m
                               WHERE m.key_id = k.key_id AND m.reader = $1
                                 AND m.reader_public_key = $3)
             GROUP BY k.key_id, r.category, e.wrapped_key
             HAVING max(r.record_seq) > $4
             ORDER BY last_seq
             LIMIT $5",
            &[&patient, &gateway, &patient_key, &after, &limit],
        )
        .await?;
    Ok(escrowed(rows))
}

/// The keys of the patient's documents escrowed for `gateway` whose wrap
/// for the patient was not made for `patient_key` by a recovery.
pub async fn escrowed_document_keys(
    db: &Client,
    patient: &str,
    gateway: &str,
    patient_key: &[u8],
    after: i64,
    limit: i64,
) -> Result<Vec<EscrowedKey>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT d.seq, d.record_id, d.category, e.wrapped_key, ARRAY[d.record_id]
             FROM gateway.documents d
             JOIN gateway.document_keys e ON e.record_id = d.record_id AND e.reader = $2
             WHERE d.patient = $1 AND d.seq > $4 AND d.erasure_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM gateway.document_keys m
                               WHERE m.record_id = d.record_id AND m.reader = $1
                                 AND m.reader_public_key = $3)
             ORDER BY d.seq
             LIMIT $5",
            &[&patient, &gateway, &patient_key, &after, &limit],
        )
        .await?;
    Ok(escrowed(rows))
}

/// Stores the patient's wraps of document keys for `patient_key`, replacing
/// the ones there.
pub async fn replace_document_wraps(
    db: &mut Client,
    patient: &str,
    patient_key: &[u8],
    wraps: &[(String, Vec<u8>)],
) -> Result<u64, tokio_postgres::Error> {
    upsert_wraps(
        db,
        "INSERT INTO gateway.document_keys (record_id, reader, reader_public_key, wrapped_key)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (record_id, reader) DO UPDATE
           SET wrapped_key = EXCLUDED.wrapped_key,
               reader_public_key = EXCLUDED.reader_public_key",
        patient,
        patient_key,
        wraps,
    )
    .await
}

/// The last erasure this gateway carried out (0 for none).
pub async fn followed_erasure(db: &Client, service: &str) -> Result<u64, tokio_postgres::Error> {
    Ok(db
        .query_opt(
            "SELECT erasure_id FROM gateway.followed_erasure WHERE service = $1",
            &[&service],
        )
        .await?
        .map_or(0, |r| r.get::<_, i64>(0) as u64))
}

pub async fn set_followed_erasure(
    db: &Client,
    service: &str,
    id: u64,
) -> Result<(), tokio_postgres::Error> {
    db.execute(
        "INSERT INTO gateway.followed_erasure (service, erasure_id) VALUES ($1, $2)
         ON CONFLICT (service) DO UPDATE
           SET erasure_id = GREATEST(gateway.followed_erasure.erasure_id, EXCLUDED.erasure_id)",
        &[&service, &(id as i64)],
    )
    .await?;
    Ok(())
}

/// The patient's documents not erased yet that erasure `e` names — by id,
/// category or everything — with their categories: whether it covers each
/// is decided by its anchor on chain (`erasure::covers`).
pub async fn erasure_candidates(
    db: &Client,
    patient: &str,
    e: &ehr_ledger::proto::Erasure,
) -> Result<Vec<(String, Category)>, tokio_postgres::Error> {
    let categories: Vec<i16> = e.categories.iter().map(|c| *c as i16).collect();
    let rows = db
        .query(
            "SELECT record_id, category FROM gateway.documents
             WHERE patient = $1 AND erasure_id IS NULL
               AND ($2 OR record_id = ANY($3) OR category = ANY($4))",
            &[&patient, &e.everything, &e.record_ids, &categories],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.get(0),
                Category::try_from(i32::from(r.get::<_, i16>(1))).unwrap_or(Category::Unspecified),
            )
        })
        .collect())
}

/// Crypto-shreds documents `ids` of the patient under erasure `erasure_id`:
/// ciphertexts set to nothing, every wrap of their keys deleted. How many;
/// asked again, none.
pub async fn erase_documents(
    db: &mut Client,
    patient: &str,
    erasure_id: u64,
    ids: &[String],
) -> Result<u64, tokio_postgres::Error> {
    let tx = db.transaction().await?;
    let erased = tx
        .execute(
            "UPDATE gateway.documents SET ciphertext = NULL, erasure_id = $2
             WHERE patient = $1 AND erasure_id IS NULL AND record_id = ANY($3)",
            &[&patient, &(erasure_id as i64), &ids],
        )
        .await?;
    tx.execute(
        "DELETE FROM gateway.document_keys WHERE record_id = ANY($1)",
        &[&ids],
    )
    .await?;
    tx.commit().await?;
    Ok(erased)
}
