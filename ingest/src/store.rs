//! PostgreSQL: encrypted records, wrapped keys, batches and rejects, written
//! a batch per transaction; the schema is `ehr-migrations`' (`migrations/`).

use std::collections::HashMap;

use ehr_ledger::crypto::merkle;
use ehr_migrations::db_message;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("PostgreSQL: {}", db_message(.0))]
    Db(#[from] postgres::Error),
    #[error(transparent)]
    Schema(#[from] ehr_migrations::SchemaError),
}

impl StoreError {
    /// Whether trying the same write again later may succeed: a lost
    /// connection, a serialization conflict, a server short of resources or
    /// shutting down. Anything else (a value PostgreSQL refuses, a broken
    /// constraint) belongs to what was written, and would fail forever.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(e) => match e.as_db_error() {
                Some(db) => matches!(&db.code().code()[..2], "08" | "40" | "53" | "57" | "58"),
                None => true,
            },
            StoreError::Schema(_) => true,
        }
    }
}

/// Text as PostgreSQL can store it, whatever bytes a device sent: control
/// characters (a NUL, which a text column refuses, escapes that would drive a
/// terminal) shown as `\u{…}`, and at most 500 characters.
pub fn storable(text: &str) -> String {
    const MAX: usize = 500;
    let mut out = String::with_capacity(text.len().min(MAX));
    for (i, ch) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if ch.is_control() {
            out.extend(ch.escape_unicode());
        } else {
            out.push(ch);
        }
    }
    out
}

pub struct Wrap {
    pub reader: String,
    pub reader_public_key: Vec<u8>,
    pub wrapped_key: Vec<u8>,
}

pub struct DeIdentified {
    pub pseudonym: String,
    pub value: f64,
    pub unit: String,
}

pub struct NewRecord {
    /// The Kafka message it came from.
    pub source: Source,
    pub record_id: String,
    pub device_id: String,
    pub device_seq: i64,
    pub content_sha256: [u8; 32],
    pub patient: String,
    pub category: i16,
    pub loinc: String,
    pub measured_at_ms: i64,
    pub ciphertext: Vec<u8>,
    pub ciphertext_sha256: [u8; 32],
    pub wraps: Vec<Wrap>,
    pub analytics: Option<DeIdentified>,
}

/// Where a message was in Kafka, and what it was.
#[derive(Clone, Debug)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub payload_sha256: [u8; 32],
    pub payload_size: i32,
}

impl NewReject {
    /// A reading that was accepted but that PostgreSQL refuses to store as it is.
    pub fn unstorable(record: &NewRecord, error: &StoreError) -> NewReject {
        let s = &record.source;
        NewReject {
            reason: "unstorable".into(),
            detail: format!("PostgreSQL refused to store this reading: {error}"),
            device_id: Some(record.device_id.clone()),
            device_seq: Some(record.device_seq),
            topic: s.topic.clone(),
            partition: s.partition,
            offset: s.offset,
            payload_sha256: s.payload_sha256,
            payload_size: s.payload_size,
        }
    }
}

pub struct NewReject {
    pub reason: String,
    pub detail: String,
    pub device_id: Option<String>,
    pub device_seq: Option<i64>,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub payload_sha256: [u8; 32],
    pub payload_size: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub batch_id: i64,
    pub merkle_root: [u8; 32],
    pub record_count: i32,
    pub first_record: i64,
    pub last_record: i64,
    pub created_at_ms: i64,
}

pub struct Store {
    client: postgres::Client,
}

fn hash32(v: Vec<u8>) -> [u8; 32] {
    let mut out = [0u8; 32];
    if v.len() == 32 {
        out.copy_from_slice(&v);
    }
    out
}

impl Store {
    pub fn connect(database_url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            client: postgres::Client::connect(database_url, postgres::NoTls)?,
        })
    }

    /// Content hashes of the readings already stored under these (device, seq).
    pub fn stored(
        &mut self,
        keys: &[(String, i64)],
    ) -> Result<HashMap<(String, i64), [u8; 32]>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let devices: Vec<&str> = keys.iter().map(|(d, _)| d.as_str()).collect();
        let seqs: Vec<i64> = keys.iter().map(|(_, s)| *s).collect();
        let rows = self.client.query(
            "SELECT r.device_id, r.device_seq, r.content_sha256 FROM ingest.records r
             JOIN unnest($1::text[], $2::bigint[]) AS k(device_id, device_seq)
               ON r.device_id = k.device_id AND r.device_seq = k.device_seq",
            &[&devices, &seqs],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.get(0), r.get(1)), hash32(r.get(2))))
            .collect())
    }

    /// Writes `records` as one new batch (Merkle root over their ciphertext
    /// hashes, in order) and `rejects`, in one transaction. `None` when there
    /// were no records.
    pub fn write(
        &mut self,
        records: &[NewRecord],
        rejects: &[NewReject],
    ) -> Result<Option<Batch>, StoreError> {
        let mut tx = self.client.transaction()?;
        for r in rejects {
            tx.execute(
                "INSERT INTO ingest.rejects (reason, detail, device_id, device_seq, topic, kafka_partition, kafka_offset, payload_sha256, payload_size)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING",
                &[
                    &storable(&r.reason),
                    &storable(&r.detail),
                    &r.device_id.as_deref().map(storable),
                    &r.device_seq,
                    &storable(&r.topic),
                    &r.partition,
                    &r.offset,
                    &r.payload_sha256.as_slice(),
                    &r.payload_size,
                ],
            )?;
        }
        if records.is_empty() {
            tx.commit()?;
            return Ok(None);
        }
        let n = records.len() as i64;
        let first: i64 = tx
            .query_one("UPDATE ingest.counters SET next = next + $1 WHERE name = 'record_seq' RETURNING next - $1", &[&n])?
            .get(0);
        let batch_id: i64 = tx
            .query_one("UPDATE ingest.counters SET next = next + 1 WHERE name = 'batch_id' RETURNING next - 1", &[])?
            .get(0);
        let leaves: Vec<[u8; 32]> = records.iter().map(|r| r.ciphertext_sha256).collect();
        let root = merkle::root(&leaves);
        let paths = merkle::proofs(&leaves);
        let created_at_ms: i64 = tx
            .query_one(
                "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record, status)
                 VALUES ($1, $2, $3, $4, $5, 'pending') RETURNING (extract(epoch FROM created_at) * 1000)::bigint",
                &[&batch_id, &root.as_slice(), &(n as i32), &first, &(first + n - 1)],
            )?
            .get(0);
        let insert_record = tx.prepare(
            "INSERT INTO ingest.records (record_seq, record_id, device_id, device_seq, content_sha256, patient, category, loinc,
                                         measured_at, ciphertext, ciphertext_sha256, batch_id, leaf_index, merkle_path)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9::bigint / 1000.0), $10, $11, $12, $13, $14)",
        )?;
        let insert_wrap = tx.prepare(
            "INSERT INTO ingest.wrapped_keys (record_id, reader, reader_public_key, wrapped_key) VALUES ($1, $2, $3, $4)",
        )?;
        let insert_analytics = tx.prepare(
            "INSERT INTO analytics.readings (pseudonym, loinc, value, unit, hour)
             VALUES ($1, $2, $3, $4, date_trunc('hour', to_timestamp($5::bigint / 1000.0)))",
        )?;
        for (i, r) in records.iter().enumerate() {
            tx.execute(
                &insert_record,
                &[
                    &(first + i as i64),
                    &r.record_id,
                    &r.device_id,
                    &r.device_seq,
                    &r.content_sha256.as_slice(),
                    &r.patient,
                    &r.category,
                    &r.loinc,
                    &r.measured_at_ms,
                    &r.ciphertext,
                    &r.ciphertext_sha256.as_slice(),
                    &batch_id,
                    &(i as i32),
                    &paths[i].concat(),
                ],
            )?;
            for w in &r.wraps {
                tx.execute(
                    &insert_wrap,
                    &[
                        &r.record_id,
                        &w.reader,
                        &w.reader_public_key,
                        &w.wrapped_key,
                    ],
                )?;
            }
            if let Some(a) = &r.analytics {
                tx.execute(
                    &insert_analytics,
                    &[&a.pseudonym, &r.loinc, &a.value, &a.unit, &r.measured_at_ms],
                )?;
            }
        }
        tx.commit()?;
        Ok(Some(Batch {
            batch_id,
            merkle_root: root,
            record_count: n as i32,
            first_record: first,
            last_record: first + n - 1,
            created_at_ms,
        }))
    }

    /// Batches not yet confirmed on chain, oldest first.
    pub fn pending(&mut self, limit: i64) -> Result<Vec<Batch>, StoreError> {
        let rows = self.client.query(
            "SELECT batch_id, merkle_root, record_count, first_record, last_record, (extract(epoch FROM created_at) * 1000)::bigint
             FROM ingest.batches WHERE status = 'pending' ORDER BY batch_id LIMIT $1",
            &[&limit],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| Batch {
                batch_id: r.get(0),
                merkle_root: hash32(r.get(1)),
                record_count: r.get(2),
                first_record: r.get(3),
                last_record: r.get(4),
                created_at_ms: r.get(5),
            })
            .collect())
    }

    /// Marks a batch anchored at `height` by `service` (the address whose
    /// `/batch/<service>/<id>` holds the root on chain).
    pub fn mark_committed(
        &mut self,
        batch_id: i64,
        height: i64,
        tx_hash: &str,
        service: &str,
    ) -> Result<(), StoreError> {
        self.client.execute(
            "UPDATE ingest.batches SET status = 'committed', height = $2, anchor_tx = $3, service = $4, committed_at = now(), last_error = NULL
             WHERE batch_id = $1",
            &[&batch_id, &height, &tx_hash, &service],
        )?;
        Ok(())
    }

    pub fn mark_attempt_failed(&mut self, batch_id: i64, error: &str) -> Result<(), StoreError> {
        self.client.execute(
            "UPDATE ingest.batches SET attempts = attempts + 1, last_error = $2 WHERE batch_id = $1",
            &[&batch_id, &error],
        )?;
        Ok(())
    }

    /// The ciphertext hashes of a batch in leaf order, to rebuild a record's Merkle path.
    pub fn leaves(&mut self, batch_id: i64) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows = self.client.query(
            "SELECT ciphertext_sha256 FROM ingest.records WHERE batch_id = $1 ORDER BY leaf_index",
            &[&batch_id],
        )?;
        Ok(rows.into_iter().map(|r| hash32(r.get(0))).collect())
    }
}
