//! Millions of stored readings in the final layout, made quickly: rows
//! generated inside PostgreSQL (`INSERT … SELECT generate_series`) as the
//! owner, shaped as ingest stores them — addresses and key ids of their real
//! lengths, 146-byte ciphertexts, committed batches of 100 — so that a
//! benchmark measures writes and reads against tables of that size
//! (docs/BENCHMARKS.md, "Flat as it grows"). The rows are for their size and
//! place in the indexes only: their ciphertexts open for no one and their
//! batches anchor nothing.

/// Readings per statement: progress shows, and no transaction is huge.
const CHUNK: i64 = 1_000_000;

/// Readings of each prefilled batch.
const PER_BATCH: i64 = 100;

/// Stores `readings` of `beds` devices (one patient each) arriving at `rate`
/// a second and ending at `end_ms`, as the first records and batches of an
/// empty database; the counters are moved past them, so ingest's writes
/// follow. Returns the time of the first reading (ms).
pub fn prefill(
    db: &mut postgres::Client,
    readings: i64,
    beds: i64,
    rate: i64,
    end_ms: i64,
) -> Result<i64, postgres::Error> {
    let first_ms = end_ms - readings * 1000 / rate.max(1);
    db.execute(
        "SELECT ingest.make_record_days((to_timestamp($1::bigint / 1000.0) AT TIME ZONE 'UTC')::date,
                                        (to_timestamp($2::bigint / 1000.0) AT TIME ZONE 'UTC')::date)",
        &[&first_ms, &end_ms],
    )?;
    // Each bed's (patient, device) pair, numbered first: a row names it.
    let bed_count = beds.min(readings);
    db.execute(
        "INSERT INTO ingest.patient_devices (patient, device_id)
         SELECT 'ehr1' || left(md5(bed::text) || md5(bed::text), 39), 'pf-' || bed
         FROM generate_series(0, $1::bigint - 1) AS bed ORDER BY bed
         ON CONFLICT DO NOTHING",
        &[&bed_count],
    )?;
    let pairs: Vec<i32> = db
        .query_one(
            "SELECT array_agg(pair_no ORDER BY substr(device_id, 4)::bigint) FROM ingest.patient_devices
             WHERE device_id LIKE 'pf-%'",
            &[],
        )?
        .get(0);
    let mut done = 0i64;
    while done < readings {
        let (lo, hi) = (done + 1, (done + CHUNK).min(readings));
        db.execute(
            "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record,
                                         status, writer, service, height, anchor_tx, committed_at)
             SELECT b, sha256(int8send(b)), (least(b * $3, $4) - (b - 1) * $3)::int, (b - 1) * $3 + 1,
                    least(b * $3, $4), 'committed', 'prefill', 'prefill', b, 'prefill', now()
             FROM generate_series(($1::bigint - 1) / $3 + 1, ($2::bigint - 1) / $3 + 1) AS b
             ON CONFLICT DO NOTHING",
            // The last batch ends with the last reading: no two batches
            // number the same records (ingest.batches refuses it).
            &[&lo, &hi, &PER_BATCH, &readings],
        )?;
        // A key a bed and 720 readings (an hour), numbered below zero where
        // ingest's numbers never reach: a row's key number is arithmetic
        // (one per bed and hour, ≈ readings / 720 of them in all).
        db.execute(
            "INSERT INTO ingest.data_keys (key_no, key_id) OVERRIDING SYSTEM VALUE
             SELECT DISTINCT -1 - ((seq / 720) * $3 + bed), 'k-' || md5(bed || '/' || (seq / 720))
             FROM generate_series($1::bigint, $2::bigint) AS i,
                  LATERAL (SELECT (i - 1) % $3::bigint AS bed, (i - 1) / $3::bigint + 1 AS seq) AS g
             ON CONFLICT DO NOTHING",
            &[&lo, &hi, &beds],
        )?;
        // Rows of ingest's length: no stored ciphertext hash (a row keeps
        // one only where its batch has no tree or its leaf differs; ingest
        // writes none). Rows 32 bytes longer left each page a gap that one
        // of ingest's rows fits, and once VACUUM had recorded the gaps every
        // measured write went to an old page of its own: a read and an 8 KB
        // full-page image a reading, 0.74–0.82 of the empty tables' rate.
        db.execute(
            "INSERT INTO ingest.records (record_seq, key_no, pair_no, device_seq, content_hash,
                                         category, loinc, measured_at, ciphertext, batch_id, leaf_index)
             SELECT i, -1 - ((seq / 720) * $3 + bed), ($7::int[])[bed + 1], seq,
                    substring(sha256(int8send(i)) FOR 16), 1, '8867-4',
                    to_timestamp(($4::bigint + (i - 1) * 1000 / $5::bigint) / 1000.0),
                    c || c || c || c || substr(c, 1, 18), (i - 1) / $6 + 1, ((i - 1) % $6)::int
             FROM generate_series($1::bigint, $2::bigint) AS i,
                  LATERAL (SELECT (i - 1) % $3::bigint AS bed, (i - 1) / $3::bigint + 1 AS seq,
                                  sha256(int8send(-i)) AS c) AS g",
            &[&lo, &hi, &beds, &first_ms, &rate, &PER_BATCH, &pairs],
        )?;
        done = hi;
        eprintln!("prefill: {done} readings stored");
    }
    db.batch_execute(&format!(
        "INSERT INTO ingest.device_seqs (device_id, max_seq)
           SELECT 'pf-' || bed, ({readings} - 1 - bed) / {beds} + 1
           FROM generate_series(0, least({beds}, {readings}) - 1) AS bed
         ON CONFLICT (device_id) DO UPDATE SET max_seq = EXCLUDED.max_seq;
         UPDATE ingest.counters SET next = {readings} + 1 WHERE name = 'record_seq';
         UPDATE ingest.counters SET next = ({readings} - 1) / {PER_BATCH} + 2 WHERE name = 'batch_id';"
    ))?;
    db.batch_execute("VACUUM ANALYZE ingest.records")?;
    Ok(first_ms)
}
