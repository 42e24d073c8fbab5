//! PostgreSQL: encrypted records, wrapped keys, batches and rejects, written
//! a batch per transaction; the schema is `ehr-migrations`' (`migrations/`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ehr_client::record_encryption::{wrap_key, DataKey};
use ehr_ledger::crypto::{block_tree, merkle, Address, PublicKey};
use ehr_migrations::db_message;

use crate::reading::ContentHash;
use numbers::{joined, Numbers, CODES, DATA_KEYS, PSEUDONYMS};

mod numbers;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("PostgreSQL: {}", db_message(.0))]
    Db(#[from] postgres::Error),
    #[error(transparent)]
    Schema(#[from] ehr_migrations::SchemaError),
    /// Another writer stored one of these devices' sequences since they
    /// were looked for: the poll is checked again.
    #[error("another ingest instance stored one of these readings' sequences meanwhile")]
    Raced,
    /// A name the write's numbering statement returned no number for: only
    /// a row deleted meanwhile by hand leaves one so. Tried again, the
    /// write numbers it anew.
    #[error(
        "PostgreSQL gave no number to a {0} of these readings (was a row of its table deleted?)"
    )]
    Unnumbered(&'static str),
}

fn unnumbered(what: &'static str) -> StoreError {
    StoreError::Unnumbered(what)
}

/// The width of a batch tree's blocks (`ingest.batch_trees`): 2^4 leaves.
/// A record's path is derived from a slice of 1 + 32·(⌈log2 blocks⌉ + 16)
/// bytes (≈ 0.8 KB in a batch of 4 000) with 31 hashes; the tree costs 32 B
/// and ≈ 1 + 32·⌈log2 blocks⌉ / 16 B a record (≈ 48 B in a batch of 4 000,
/// where a stored path took 388 B).
pub const TREE_BLOCK_BITS: u32 = 4;

/// The class of the advisory locks (two-key form: a space of its own) that
/// serialise, per patient, an erasure with the writes of her readings
/// across ingest instances: a write holds her lock shared, an erasure
/// exclusive. Without it, an erasure deciding which keys open only erased
/// readings could miss a batch another instance is committing under the same
/// open key, and delete the wraps its readings need.
const PATIENT_LOCK_CLASS: i32 = 0x4548_5201;

/// SQLSTATE of a unique key already taken. Within one poll the same reading
/// is caught before the write, so only another writer can cause it.
const UNIQUE_VIOLATION: &str = "23505";

/// SQLSTATE of a lock not had within `lock_timeout` (making a day's
/// partition waits at most 10 s for the readings' table).
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// SQLSTATE of an identity that has given its last number (a data key's,
/// `int4`: 2^31 keys, 122 years of hourly keys for 2 000 beds). Not the
/// readings' fault: ingest waits, saying so, rather than refuse them.
const NUMBERS_EXHAUSTED: &str = "2200H";

impl StoreError {
    /// Whether trying the same write again later may succeed: another ingest
    /// instance storing the same reading at the same moment (a unique key
    /// taken meanwhile, as when a consumer group rebalances and a poll is
    /// handed on while being written — tried again, it is a duplicate); a lost
    /// connection, a serialization conflict, a server short of resources or
    /// shutting down, or a schema or privilege the service does not find
    /// (class 42: the deployment's fault, never a message's — the readings
    /// wait for the operator rather than being refused). Anything else (a
    /// value PostgreSQL refuses, a broken constraint) belongs to what was
    /// written, and would fail forever.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(e) => match e.as_db_error() {
                Some(db) => {
                    matches!(
                        &db.code().code()[..2],
                        "08" | "40" | "42" | "53" | "57" | "58"
                    ) || [UNIQUE_VIOLATION, LOCK_NOT_AVAILABLE, NUMBERS_EXHAUSTED]
                        .contains(&db.code().code())
                }
                None => true,
            },
            StoreError::Schema(_) | StoreError::Raced | StoreError::Unnumbered(_) => true,
        }
    }
}

/// Text as PostgreSQL can store it, whatever bytes a device sent: control
/// characters (a NUL, which a text column refuses, escapes that would drive a
/// terminal) shown as `\u{…}`, and at most 500 characters.
/// What an erasure removed here.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Erased {
    pub readings: u64,
    pub wraps: u64,
    pub analytics: u64,
}

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
    /// Its record id is not kept: it is made of these two
    /// (`pipeline::record_id`, `ingest.record_id` in SQL).
    pub device_id: String,
    pub device_seq: i64,
    pub content_hash: ContentHash,
    pub patient: String,
    pub category: i16,
    pub loinc: String,
    pub measured_at_ms: i64,
    pub ciphertext: Vec<u8>,
    pub ciphertext_sha256: [u8; 32],
    /// The data key it is encrypted under, shared with the patient's other
    /// readings of its poll.
    pub key: Arc<NewKey>,
    pub analytics: Option<DeIdentified>,
}

/// A data key's id and its wraps, one per reader.
pub struct NewKey {
    pub key_id: String,
    pub wraps: Vec<Wrap>,
}

impl NewKey {
    /// `data_key`, under the id `key_id`, wrapped (ECIES, an ephemeral key
    /// each) for each of `readers`.
    pub fn wrapped_for(
        key_id: String,
        data_key: &DataKey,
        readers: &[(Address, PublicKey)],
    ) -> NewKey {
        let wraps = readers
            .iter()
            .map(|(address, key)| Wrap {
                reader: address.to_string(),
                reader_public_key: key.to_bytes().to_vec(),
                wrapped_key: wrap_key(key, &key_id, data_key),
            })
            .collect();
        NewKey { key_id, wraps }
    }
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
    /// Where to connect again after the connection is lost.
    database_url: String,
    /// The ingest service's address: the writer of its batches, and the one
    /// that anchors them.
    service: String,
    /// UTC days (since 1970-01-01) whose readings have a partition to go to
    /// (`ingest.make_record_days` asked for them, or the history holds them).
    days_ready: HashSet<i64>,
    /// The numbers rows name data keys, pseudonyms and codes by.
    keys: Numbers,
    pseudonyms: Numbers,
    codes: Numbers,
}

const DAY_MS: i64 = 86_400_000;

/// The readings stored under (device, seq) pairs ($1, $2), whatever day
/// they claim: every day's partition is looked into.
const STORED_ON_ANY_DAY: &str = "SELECT p.device_id, r.device_seq, r.content_hash
     FROM unnest($1::text[], $2::bigint[]) AS k(device_id, device_seq)
     JOIN ingest.patient_devices p ON p.device_id = k.device_id
     JOIN ingest.records r ON r.pair_no = p.pair_no AND r.device_seq = k.device_seq";

/// How many days ahead the readings' partitions are made (each new day's is
/// made a day or two before it, never in the first write after midnight).
const DAYS_AHEAD: i64 = 2;

/// A write's records, column by column, for one multi-row insert.
#[derive(Default)]
struct RecordColumns<'a> {
    seq: Vec<i64>,
    key_no: Vec<i32>,
    pair_no: Vec<i32>,
    device_seq: Vec<i64>,
    content_hash: Vec<&'a [u8]>,
    category: Vec<i16>,
    loinc: Vec<&'a str>,
    measured_at_ms: Vec<i64>,
    ciphertext: Vec<&'a [u8]>,
    leaf_index: Vec<i32>,
}

impl<'a> RecordColumns<'a> {
    fn push(&mut self, seq: i64, r: &'a NewRecord, pair_no: i32, key_no: i32, leaf_index: i32) {
        self.seq.push(seq);
        self.key_no.push(key_no);
        self.pair_no.push(pair_no);
        self.device_seq.push(r.device_seq);
        self.content_hash.push(&r.content_hash);
        self.category.push(r.category);
        self.loinc.push(&r.loinc);
        self.measured_at_ms.push(r.measured_at_ms);
        self.ciphertext.push(&r.ciphertext);
        self.leaf_index.push(leaf_index);
    }
}

/// The number of each (patient, device) pair of a write's readings
/// (`ingest.patient_devices`): a reading's row names its pair, and a
/// patient's readings are found through her pairs (`ingest.pairs_of`).
type PairNumbers<'a> = HashMap<(&'a str, &'a str), i32>;

/// Deletes the analysts' values `filter` picks (a condition on
/// `pseudonym_no`, `code_no` and `hour`), open and closed; how many. The
/// open ones first, each in a statement of its own: a day's values being
/// closed meanwhile (`analytics.close_value_day`) hold the first until they
/// are packed, and the second, with a later snapshot, finds them packed.
fn delete_analytics(
    tx: &mut postgres::Transaction,
    filter: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<u64, StoreError> {
    let open = tx.execute(
        &format!("DELETE FROM analytics.values WHERE {filter}"),
        params,
    )?;
    let closed: i64 = tx
        .query_one(
            &format!(
                "WITH d AS (DELETE FROM analytics.closed_hours WHERE {filter}
                            RETURNING value_count AS n)
                 SELECT coalesce(sum(n), 0)::bigint FROM d"
            ),
            params,
        )?
        .get(0);
    Ok(open + closed as u64)
}

/// Locks the rows of the devices of `records` (made if new; in one
/// order), so that no other writer stores their sequences until this
/// write commits, then checks that none of the sequences at or below a
/// device's highest was stored by another writer since `stored` looked
/// (on any day: the per-day unique key would not see a sequence reused
/// at another time). Their (patient, device) pairs are made in the same
/// statements and their numbers returned.
fn lock_devices<'a>(
    tx: &mut postgres::Transaction,
    records: &'a [NewRecord],
) -> Result<PairNumbers<'a>, StoreError> {
    let mut pairs: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.device_id.as_str(), r.patient.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let (pair_devices, pair_patients): (Vec<&str>, Vec<&str>) = pairs.iter().copied().unzip();
    let mut devices = pair_devices.clone();
    devices.dedup();
    tx.execute(
        "INSERT INTO ingest.device_seqs (device_id, max_seq)
         SELECT d, 0 FROM unnest($1::text[]) AS d ORDER BY d ON CONFLICT (device_id) DO NOTHING",
        &[&devices],
    )?;
    // The pairs are made once their devices are locked (the insert reads
    // `locked`): no other write makes the same pair meanwhile. Only missing
    // ones are inserted — an insert that meets a conflict still draws a
    // number, and `pair_no` is an int4. Made ones come back from the
    // insert, known ones from the table as the statement found it.
    let mut highest: HashMap<String, i64> = HashMap::new();
    let mut numbers: HashMap<(String, String), i32> = HashMap::new();
    for r in tx.query(
        "WITH locked AS (SELECT device_id, max_seq FROM ingest.device_seqs WHERE device_id = ANY($1)
                         ORDER BY device_id FOR UPDATE),
              t AS (SELECT * FROM unnest($2::text[], $3::text[]) AS t(device_id, patient)),
              made AS (INSERT INTO ingest.patient_devices (patient, device_id)
                       SELECT t.patient, t.device_id FROM t JOIN locked l ON l.device_id = t.device_id
                       WHERE NOT EXISTS (SELECT 1 FROM ingest.patient_devices p
                                         WHERE p.patient = t.patient AND p.device_id = t.device_id)
                       ORDER BY 1, 2
                       ON CONFLICT DO NOTHING
                       RETURNING patient, device_id, pair_no)
         SELECT l.device_id, l.max_seq, t.patient, coalesce(m.pair_no, p.pair_no)
         FROM locked l JOIN t ON t.device_id = l.device_id
         LEFT JOIN made m ON m.device_id = t.device_id AND m.patient = t.patient
         LEFT JOIN ingest.patient_devices p ON p.device_id = t.device_id AND p.patient = t.patient",
        &[&devices, &pair_devices, &pair_patients],
    )? {
        let device: String = r.get(0);
        if let Some(pair) = r.get::<_, Option<i32>>(3) {
            numbers.insert((r.get(2), device.clone()), pair);
        }
        highest.insert(device, r.get(1));
    }
    let (d, q): (Vec<&str>, Vec<i64>) = records
        .iter()
        .filter(|r| {
            highest
                .get(&r.device_id)
                .is_some_and(|m| r.device_seq <= *m)
        })
        .map(|r| (r.device_id.as_str(), r.device_seq))
        .unzip();
    if !d.is_empty() && !tx.query(STORED_ON_ANY_DAY, &[&d, &q])?.is_empty() {
        return Err(StoreError::Raced);
    }
    // Every pair was made or found above, but for one another write made
    // while this statement waited for its device (the statement sees the
    // table as it was when it began): the write is tried again, and then
    // finds it.
    pairs
        .into_iter()
        .map(|(d, p)| {
            numbers
                .get(&(p.to_string(), d.to_string()))
                .map(|n| ((p, d), *n))
                .ok_or(StoreError::Raced)
        })
        .collect()
}

/// (device, seq, ms) keys as three columns.
fn unzip3<'a>(keys: &[&'a (String, i64, i64)]) -> (Vec<&'a str>, Vec<i64>, Vec<i64>) {
    let mut out = (vec![], vec![], vec![]);
    for (d, q, t) in keys.iter().copied() {
        out.0.push(d.as_str());
        out.1.push(*q);
        out.2.push(*t);
    }
    out
}

fn hash32(v: Vec<u8>) -> [u8; 32] {
    let mut out = [0u8; 32];
    if v.len() == 32 {
        out.copy_from_slice(&v);
    }
    out
}

/// A stored content hash; one of another length (a row written before
/// migration 018 kept 32 bytes, and was cut to 16 by it) matches nothing.
fn stored_hash(v: Vec<u8>) -> ContentHash {
    let mut out = [0u8; 16];
    if v.len() == 16 {
        out.copy_from_slice(&v);
    }
    out
}

impl Store {
    /// Connects as the ingest service `service` (its address).
    pub fn connect(database_url: &str, service: &str) -> Result<Self, StoreError> {
        Ok(Self {
            client: ehr_migrations::connect(database_url)?,
            database_url: database_url.to_string(),
            service: service.to_string(),
            days_ready: HashSet::new(),
            keys: Numbers::new(&DATA_KEYS),
            pseudonyms: Numbers::new(&PSEUDONYMS),
            codes: Numbers::new(&CODES),
        })
    }

    /// A new connection in place of one the server closed (a restart, a
    /// failover): every write after a failure goes through here before it
    /// is tried again, or a dead connection would refuse them for ever.
    pub fn reconnect_if_lost(&mut self) -> Result<(), StoreError> {
        if self.client.is_closed() {
            self.client = ehr_migrations::connect(&self.database_url)?;
            for n in [&mut self.keys, &mut self.pseudonyms, &mut self.codes] {
                n.forget();
            }
            tracing::info!("connected to the database again");
        }
        Ok(())
    }

    /// Batch ids from `next` on at least: the chain's next id for this
    /// service, so that after a restore from an old backup no new batch
    /// reuses an id already anchored (it would stay pending for ever).
    pub fn number_batches_from(&mut self, next: u64) -> Result<(), StoreError> {
        self.client.execute(
            "UPDATE ingest.counters SET next = GREATEST(next, $1) WHERE name = 'batch_id'",
            &[&(next as i64)],
        )?;
        Ok(())
    }

    /// How long the oldest of this service's pending batches has waited, in
    /// seconds (0 when none waits).
    pub fn oldest_pending_secs(&mut self) -> Result<i64, StoreError> {
        Ok(self
            .client
            .query_one(
                "SELECT COALESCE(extract(epoch FROM now() - min(created_at))::bigint, 0)
                 FROM ingest.batches WHERE status = 'pending' AND (writer = $1 OR writer IS NULL)",
                &[&self.service],
            )?
            .get(0))
    }

    /// The last block this service followed for consent changes.
    pub fn followed_height(&mut self) -> Result<Option<u64>, StoreError> {
        let row = self.client.query_opt(
            "SELECT height FROM ingest.followed_height WHERE service = $1",
            &[&self.service],
        )?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    pub fn set_followed_height(&mut self, height: u64) -> Result<(), StoreError> {
        self.client.execute(
            "INSERT INTO ingest.followed_height (service, height) VALUES ($1, $2)
             ON CONFLICT (service) DO UPDATE SET height = GREATEST(ingest.followed_height.height, EXCLUDED.height)",
            &[&self.service, &(height as i64)],
        )?;
        Ok(())
    }

    /// The last erasure carried out here (0 for none).
    pub fn followed_erasure(&mut self) -> Result<u64, StoreError> {
        let row = self.client.query_opt(
            "SELECT erasure_id FROM ingest.followed_erasure WHERE service = $1",
            &[&self.service],
        )?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    pub fn set_followed_erasure(&mut self, id: u64) -> Result<(), StoreError> {
        self.client.execute(
            "INSERT INTO ingest.followed_erasure (service, erasure_id) VALUES ($1, $2)
             ON CONFLICT (service) DO UPDATE
               SET erasure_id = GREATEST(ingest.followed_erasure.erasure_id, EXCLUDED.erasure_id)",
            &[&self.service, &(id as i64)],
        )?;
        Ok(())
    }

    /// Deletes every analytics value of `pseudonym`, open and closed; how
    /// many there were.
    pub fn forget_analytics(&mut self, pseudonym: &str) -> Result<u64, StoreError> {
        // Read committed whatever the database's default: the second delete
        // must see the values a closing packed while the first waited.
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::ReadCommitted)
            .start()?;
        let deleted = delete_analytics(
            &mut tx,
            "pseudonym_no = (SELECT pseudonym_no FROM analytics.pseudonyms WHERE pseudonym = $1)",
            &[&pseudonym],
        )?;
        tx.commit()?;
        Ok(deleted)
    }

    /// Batches of any writer holding readings of `patient`, not marked
    /// anchored yet, written before `t` (unix seconds).
    pub fn pending_written_before(&mut self, patient: &str, t: i64) -> Result<i64, StoreError> {
        Ok(self
            .client
            .query_one(
                "SELECT count(*) FROM ingest.batches b
                 WHERE b.status = 'pending' AND b.created_at <= to_timestamp($1::bigint)
                   AND EXISTS (SELECT 1 FROM ingest.records r
                               WHERE r.record_seq BETWEEN b.first_record AND b.last_record
                                 AND r.pair_no = ANY((SELECT ingest.pairs_of($2))::int[]))",
                &[&t, &patient],
            )?
            .get(0))
    }

    /// Crypto-shreds the patient's readings erasure `e` covers (anchored at
    /// or before its height): ciphertexts set to nothing, every wrap of a
    /// data key that opens only erased readings deleted, and the patient's
    /// analytics rows of the erased readings' codes and hours — all of them
    /// up to the erasure's hour when vitals or everything is erased (what she
    /// measured later, consenting, stays: an erasure carried out again, by
    /// a new or restored service, deletes nothing written after it). Asked
    /// again, it erases nothing more.
    pub fn erase(
        &mut self,
        e: &ehr_ledger::proto::Erasure,
        patient: &str,
        pseudonym: &str,
    ) -> Result<Erased, StoreError> {
        let categories: Vec<i16> = e.categories.iter().map(|c| *c as i16).collect();
        // Read committed whatever the database's default: the statements
        // after the closing's lock must see what a closing wrote.
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::ReadCommitted)
            .start()?;
        // No day is being closed meanwhile: a closing copies the day's rows
        // and would leave this update behind. Taken first: waiting for it
        // while holding her lock would hold up every write of hers.
        tx.execute(
            "SELECT pg_advisory_xact_lock_shared($1)",
            &[&ehr_migrations::CLOSING_LOCK],
        )?;
        // Every write of her readings committed before, none meanwhile.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&PATIENT_LOCK_CLASS, &patient],
        )?;
        let rows = tx.query(
            "UPDATE ingest.records r SET ciphertext = NULL, erasure_id = $2
             FROM ingest.batches b, ingest.patient_devices d
             WHERE b.batch_id = coalesce(r.batch_id, ingest.batch_of(r.record_seq))
               AND d.pair_no = r.pair_no AND r.erasure_id IS NULL
               AND r.pair_no = ANY((SELECT ingest.pairs_of($1))::int[])
               AND b.height IS NOT NULL AND b.height <= $6
               AND ($3 OR ingest.record_id(d.device_id, r.device_seq) = ANY($4) OR r.category = ANY($5))
             RETURNING r.key_no, r.loinc, date_trunc('hour', r.measured_at, 'UTC')",
            &[
                &patient,
                &(e.id as i64),
                &e.everything,
                &e.record_ids,
                &categories,
                &(e.height as i64),
            ],
        )?;
        // Their keys' ids, looked up after the update: a join there would
        // leave a reading whose key number is missing unerased.
        let key_nos: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        let mut keys: Vec<String> = tx
            .query(
                "SELECT key_id FROM ingest.data_keys WHERE key_no = ANY($1)",
                &[&key_nos],
            )?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        // Keys of her archived readings (ehr-archive) that open only what
        // this erasure covers — of its categories, anchored at or before
        // it: their wraps go too. (An erasure naming records one by one
        // does not reach archived ones: their ids are in the archive only.)
        let height = e.height as i64;
        keys.extend(
            tx.query(
                "SELECT DISTINCT a.key_id FROM ingest.archived_keys a
                 WHERE a.patient = $1 AND ($2 OR a.category = ANY($3)) AND a.height <= $4
                   AND NOT EXISTS (SELECT 1 FROM ingest.archived_keys o WHERE o.key_id = a.key_id
                                     AND NOT (($2 OR o.category = ANY($3)) AND o.height <= $4))",
                &[&patient, &e.everything, &categories, &height],
            )?
            .into_iter()
            .map(|r| r.get::<_, String>(0)),
        );
        keys.sort();
        keys.dedup();
        let wraps = tx.execute(
            "DELETE FROM ingest.wrapped_keys w WHERE w.key_id = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM ingest.data_keys k JOIN ingest.records r ON r.key_no = k.key_no
                               WHERE k.key_id = w.key_id AND r.erasure_id IS NULL
                                 AND r.pair_no = ANY((SELECT ingest.pairs_of($2))::int[]))
               AND NOT EXISTS (SELECT 1 FROM ingest.archived_keys a WHERE a.key_id = w.key_id
                                 AND NOT (($3 OR a.category = ANY($4)) AND a.height <= $5))",
            &[&keys, &patient, &e.everything, &categories, &height],
        )?;
        let vitals = ehr_ledger::proto::Category::Vitals as i16;
        let analytics = if e.everything || categories.contains(&vitals) {
            delete_analytics(
                &mut tx,
                "pseudonym_no = (SELECT pseudonym_no FROM analytics.pseudonyms WHERE pseudonym = $1)
                 AND hour <= date_trunc('hour', to_timestamp($2::bigint), 'UTC')",
                &[&pseudonym, &e.erased_at],
            )?
        } else {
            let loinc: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
            let hour: Vec<std::time::SystemTime> = rows.iter().map(|r| r.get(2)).collect();
            delete_analytics(
                &mut tx,
                "pseudonym_no = (SELECT pseudonym_no FROM analytics.pseudonyms WHERE pseudonym = $1)
                 AND (code_no, hour) IN (SELECT c.code_no, t.hour
                                         FROM unnest($2::text[], $3::timestamptz[]) AS t(loinc, hour)
                                         JOIN analytics.codes c ON c.loinc = t.loinc)",
                &[&pseudonym, &loinc, &hour],
            )?
        };
        tx.commit()?;
        Ok(Erased {
            readings: rows.len() as u64,
            wraps,
            analytics,
        })
    }

    /// Content hashes of the readings already stored under these (device,
    /// seq), each given with the time it claims (ms). A sequence above its
    /// device's highest stored one is new, found without a look at the
    /// readings; the others are looked for on the day they claim (a reading
    /// sent again), then on every day (a sequence reused for another time).
    pub fn stored(
        &mut self,
        keys: &[(String, i64, i64)],
    ) -> Result<HashMap<(String, i64), ContentHash>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let devices: Vec<&str> = keys.iter().map(|(d, _, _)| d.as_str()).collect();
        let highest: HashMap<String, i64> = self
            .client
            .query(
                "SELECT device_id, max_seq FROM ingest.device_seqs WHERE device_id = ANY($1)",
                &[&devices],
            )?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut seen: Vec<&(String, i64, i64)> = keys
            .iter()
            .filter(|(d, seq, _)| highest.get(d).is_some_and(|max| seq <= max))
            .collect();
        let mut found = HashMap::new();
        if seen.is_empty() {
            return Ok(found);
        }
        // The days' bounds as values of the statement: PostgreSQL then reads
        // only those days' partitions.
        let first = seen.iter().map(|k| k.2).min().unwrap_or(0);
        let last = seen.iter().map(|k| k.2).max().unwrap_or(0);
        let (d, q, t): (Vec<&str>, Vec<i64>, Vec<i64>) = unzip3(&seen);
        for r in self.client.query(
            "SELECT p.device_id, r.device_seq, r.content_hash
             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS k(device_id, device_seq, ms)
             JOIN ingest.patient_devices p ON p.device_id = k.device_id
             JOIN ingest.records r ON r.pair_no = p.pair_no AND r.device_seq = k.device_seq
              AND r.measured_at = to_timestamp(k.ms / 1000.0)
             WHERE r.measured_at BETWEEN to_timestamp($4::bigint / 1000.0) AND to_timestamp($5::bigint / 1000.0)",
            &[&d, &q, &t, &first, &last],
        )? {
            found.insert((r.get(0), r.get(1)), stored_hash(r.get(2)));
        }
        seen.retain(|(d, seq, _)| !found.contains_key(&(d.clone(), *seq)));
        if !seen.is_empty() {
            let (d, q, _) = unzip3(&seen);
            for r in self.client.query(STORED_ON_ANY_DAY, &[&d, &q])? {
                found.insert((r.get(0), r.get(1)), stored_hash(r.get(2)));
            }
        }
        Ok(found)
    }

    /// Makes sure each day `records` were measured on has its partition
    /// (`ingest.make_record_days`, in a transaction of its own: making one
    /// locks the table a moment, which a write must not hold on to).
    fn prepare_days(&mut self, records: &[NewRecord]) -> Result<(), StoreError> {
        let missing: Vec<i64> = records
            .iter()
            .map(|r| r.measured_at_ms.div_euclid(DAY_MS))
            .filter(|d| !self.days_ready.contains(d))
            .collect();
        if let (Some(&from), Some(&through)) = (missing.iter().min(), missing.iter().max()) {
            self.make_days(from, through)?;
        }
        // The days ahead, with the first write and each new day.
        let today = ehr_client::service::now_ms().div_euclid(DAY_MS);
        if !self.days_ready.contains(&(today + DAYS_AHEAD)) {
            self.make_days(today, today + DAYS_AHEAD)?;
        }
        Ok(())
    }

    /// `ingest.make_record_days` for days `from ..= through` (since 1970).
    fn make_days(&mut self, from: i64, through: i64) -> Result<(), StoreError> {
        self.client.execute(
            "SELECT ingest.make_record_days(date '1970-01-01' + $1::int, date '1970-01-01' + $2::int)",
            &[&(from as i32), &(through as i32)],
        )?;
        self.days_ready.extend(from..=through);
        Ok(())
    }

    /// Writes `records` as one new batch (Merkle root over their ciphertext
    /// hashes, in order) and `rejects`, in one transaction. `None` when there
    /// were no records.
    pub fn write(
        &mut self,
        records: &[NewRecord],
        rejects: &[NewReject],
    ) -> Result<Option<Batch>, StoreError> {
        let written = self.write_batch(records, rejects);
        for n in [&mut self.keys, &mut self.pseudonyms, &mut self.codes] {
            match written {
                Ok(_) => n.committed(),
                // Whatever failed (a migration under way, a restore), the
                // numbers are asked for again.
                Err(_) => n.forget(),
            }
        }
        written
    }

    fn write_batch(
        &mut self,
        records: &[NewRecord],
        rejects: &[NewReject],
    ) -> Result<Option<Batch>, StoreError> {
        self.prepare_days(records)?;
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
        // Each patient's lock, shared (in one order: no two writes wait on
        // each other): an erasure of hers waits for this write, or it waits.
        let mut patients: Vec<&str> = records.iter().map(|r| r.patient.as_str()).collect();
        patients.sort_unstable();
        patients.dedup();
        tx.execute(
            "SELECT count(pg_advisory_xact_lock_shared($1, h))
             FROM (SELECT hashtext(p) AS h FROM unnest($2::text[]) AS p ORDER BY 1) AS locks",
            &[&PATIENT_LOCK_CLASS, &patients],
        )?;
        let pairs = lock_devices(&mut tx, records)?;
        let n = records.len() as i64;
        let first: i64 = tx
            .query_one("UPDATE ingest.counters SET next = next + $1 WHERE name = 'record_seq' RETURNING next - $1", &[&n])?
            .get(0);
        let batch_id: i64 = tx
            .query_one("UPDATE ingest.counters SET next = next + 1 WHERE name = 'batch_id' RETURNING next - 1", &[])?
            .get(0);
        let leaves: Vec<[u8; 32]> = records.iter().map(|r| r.ciphertext_sha256).collect();
        let root = merkle::root(&leaves);
        let tree = block_tree::build(&leaves, TREE_BLOCK_BITS).expect("a batch of 32-byte leaves");
        let created_at_ms: i64 = tx
            .query_one(
                "INSERT INTO ingest.batches (batch_id, merkle_root, record_count, first_record, last_record, status, writer)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING (extract(epoch FROM created_at) * 1000)::bigint",
                &[&batch_id, &root.as_slice(), &(n as i32), &first, &(first + n - 1), &self.service],
            )?
            .get(0);
        // One statement per table, each row a column of arrays: a round
        // trip per table rather than per row. A row names its data key by
        // number, numbered here when new.
        self.keys
            .number(&mut tx, records.iter().map(|r| r.key.key_id.as_str()))?;
        let mut rows = RecordColumns::default();
        for (i, r) in records.iter().enumerate() {
            let pair_no = pairs[&(r.patient.as_str(), r.device_id.as_str())];
            let key_no = self
                .keys
                .get(&r.key.key_id)
                .ok_or_else(|| unnumbered("data key"))?;
            rows.push(first + i as i64, r, pair_no, key_no, i as i32);
        }
        tx.execute(
            "INSERT INTO ingest.batch_trees (batch_id, block_bits, tree) VALUES ($1, $2, $3)",
            &[&batch_id, &(TREE_BLOCK_BITS as i16), &tree],
        )?;
        tx.execute(
            "INSERT INTO ingest.records (record_seq, key_no, pair_no, device_seq, content_hash,
                                         category, loinc, measured_at, ciphertext, batch_id, leaf_index)
             SELECT seq, key_no, pair_no, device_seq, content_hash, category, loinc,
                    to_timestamp(measured_at_ms / 1000.0), ciphertext, $10, leaf_index
             FROM unnest($1::bigint[], $2::int[], $3::int[], $4::bigint[], $5::bytea[],
                         $6::smallint[], $7::text[], $8::bigint[], $9::bytea[], $11::int[])
                  AS t(seq, key_no, pair_no, device_seq, content_hash, category, loinc,
                       measured_at_ms, ciphertext, leaf_index)",
            &[
                &rows.seq,
                &rows.key_no,
                &rows.pair_no,
                &rows.device_seq,
                &rows.content_hash,
                &rows.category,
                &rows.loinc,
                &rows.measured_at_ms,
                &rows.ciphertext,
                &batch_id,
                &rows.leaf_index,
            ],
        )?;
        // Each device's highest sequence: its row is this write's
        // (lock_devices).
        let (devices, seqs): (Vec<&str>, Vec<i64>) = records
            .iter()
            .map(|r| (r.device_id.as_str(), r.device_seq))
            .unzip();
        tx.execute(
            "INSERT INTO ingest.device_seqs AS s (device_id, max_seq)
             SELECT device_id, max(device_seq) FROM unnest($1::text[], $2::bigint[]) AS t(device_id, device_seq)
             GROUP BY device_id ORDER BY device_id
             ON CONFLICT (device_id) DO UPDATE SET max_seq = EXCLUDED.max_seq
             WHERE s.max_seq < EXCLUDED.max_seq",
            &[&devices, &seqs],
        )?;
        // Each key once, whatever number of its records this write holds; a
        // key already stored (its records written one by one) keeps its wraps.
        let (mut key_id, mut reader, mut reader_key, mut wrapped) =
            (vec![], vec![], vec![], vec![]);
        let mut keys_seen = HashSet::new();
        for r in records {
            if keys_seen.insert(r.key.key_id.as_str()) {
                for w in &r.key.wraps {
                    key_id.push(r.key.key_id.as_str());
                    reader.push(w.reader.as_str());
                    reader_key.push(w.reader_public_key.as_slice());
                    wrapped.push(w.wrapped_key.as_slice());
                }
            }
        }
        tx.execute(
            "INSERT INTO ingest.wrapped_keys (key_id, reader, reader_public_key, wrapped_key)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[])
             ON CONFLICT (key_id, reader) DO NOTHING",
            &[&key_id, &reader, &reader_key, &wrapped],
        )?;
        // The analysts' rows: a pseudonym and a code (with its unit) by
        // number, numbered here when new.
        let consenting: Vec<(&DeIdentified, &NewRecord)> = records
            .iter()
            .filter_map(|r| r.analytics.as_ref().map(|a| (a, r)))
            .collect();
        if !consenting.is_empty() {
            let codes: Vec<String> = consenting
                .iter()
                .map(|(a, r)| joined(&[&r.loinc, &a.unit]))
                .collect();
            self.pseudonyms.number(
                &mut tx,
                consenting.iter().map(|(a, _)| a.pseudonym.as_str()),
            )?;
            self.codes
                .number(&mut tx, codes.iter().map(String::as_str))?;
            let (mut hour_ms, mut value, mut pseudonym_no, mut code_no) =
                (vec![], vec![], vec![], vec![]);
            for ((a, r), code) in consenting.iter().zip(&codes) {
                hour_ms.push(r.measured_at_ms);
                value.push(a.value);
                pseudonym_no.push(
                    self.pseudonyms
                        .get(&a.pseudonym)
                        .ok_or_else(|| unnumbered("pseudonym"))?,
                );
                code_no.push(self.codes.get(code).ok_or_else(|| unnumbered("code"))?);
            }
            tx.execute(
                "INSERT INTO analytics.values (hour, value, pseudonym_no, code_no)
                 SELECT date_trunc('hour', to_timestamp(at / 1000.0), 'UTC'), v, p, c
                 FROM unnest($1::bigint[], $2::float8[], $3::int[], $4::int[]) AS t(at, v, p, c)",
                &[&hour_ms, &value, &pseudonym_no, &code_no],
            )?;
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

    /// How many of this service's batches are not yet confirmed on chain.
    pub fn pending_count(&mut self) -> Result<i64, StoreError> {
        Ok(self
            .client
            .query_one(
                "SELECT count(*) FROM ingest.batches WHERE status = 'pending' AND (writer = $1 OR writer IS NULL)",
                &[&self.service],
            )?
            .get(0))
    }

    /// This service's batches not yet confirmed on chain (and those written
    /// before batches had a writer), oldest first.
    pub fn pending(&mut self, limit: i64) -> Result<Vec<Batch>, StoreError> {
        let rows = self.client.query(
            "SELECT batch_id, merkle_root, record_count, first_record, last_record, (extract(epoch FROM created_at) * 1000)::bigint
             FROM ingest.batches WHERE status = 'pending' AND (writer = $2 OR writer IS NULL)
             ORDER BY batch_id LIMIT $1",
            &[&limit, &self.service],
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
}
