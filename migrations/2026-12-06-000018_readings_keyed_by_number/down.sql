-- Back to rows that name their data key by its text id and keep their
-- content hash in the column migration 017 left, day by day. The hash stays
-- 16 bytes (the other 16 are gone): a reading stored before this revert and
-- sent again afterwards is refused as a reused sequence instead of counted
-- as a duplicate — it stays stored once either way.
LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;
DROP VIEW ingest.stored_records;

CREATE TABLE ingest.records_numbered (
    record_seq         bigint NOT NULL,
    measured_at        timestamptz NOT NULL,
    device_seq         bigint NOT NULL,
    batch_id           bigint NOT NULL,
    erasure_id         bigint,
    pair_no            integer NOT NULL,
    leaf_index         integer NOT NULL,
    category           smallint NOT NULL,
    loinc              text NOT NULL,
    key_id             text NOT NULL,
    content_sha256     bytea NOT NULL,
    ciphertext_sha256  bytea,
    ciphertext         bytea,
    merkle_path        bytea
) PARTITION BY RANGE (measured_at);

SELECT ingest.rewrite_readings('records_numbered', $$
    SELECT r.record_seq, r.measured_at, r.device_seq, r.batch_id, r.erasure_id, r.pair_no,
           r.leaf_index, r.category, r.loinc, k.key_id, r.content_hash, r.ciphertext_sha256,
           r.ciphertext, r.merkle_path
    FROM ingest.%I r JOIN ingest.data_keys k ON k.key_no = r.key_no
    ORDER BY r.record_seq$$,
    'name a key number ingest.data_keys does not hold: migration 018 cannot be reverted without losing them');
DROP FUNCTION ingest.rewrite_readings(text, text, text);
DROP TABLE ingest.data_keys;

CREATE VIEW ingest.stored_records AS
SELECT r.record_seq, ingest.record_id(d.device_id, r.device_seq) AS record_id, d.device_id,
       r.device_seq, d.patient, r.category, r.loinc, r.measured_at, r.ciphertext,
       coalesce(r.ciphertext_sha256, ingest.tree_leaf(t.tree, t.block_bits, b.record_count, r.leaf_index))
         AS ciphertext_sha256,
       r.content_sha256, r.batch_id, r.leaf_index, r.key_id,
       r.erasure_id, b.created_at AS stored_at, r.pair_no
FROM ingest.records r
JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
JOIN ingest.batches b ON b.batch_id = r.batch_id
LEFT JOIN ingest.batch_trees t ON t.batch_id = r.batch_id;
