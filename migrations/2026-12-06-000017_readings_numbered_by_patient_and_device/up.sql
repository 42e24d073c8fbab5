-- A stored reading names where it came from by one number: its (patient,
-- device) pair in ingest.patient_devices — not the patient's address
-- (43 bytes), the device's id and a record id made of the two (≈ 28 bytes)
-- in every row. The record id is derived (ingest.record_id, the rule ingest
-- makes them by), the time a reading was stored is its batch's, and its leaf
-- (the SHA-256 of its ciphertext) is its batch tree's (ingest.batch_trees,
-- migration 013): rows of batches from before trees keep theirs, and so
-- does a row whose leaf is not the one its tree holds. The day's
-- unique key, which is also the read index, holds the number instead of the
-- device's id. Together ≈ 180 bytes of every stored reading
-- (docs/BENCHMARKS.md, "Bytes per stored reading").
--
-- Every stored reading is rewritten, day by day, with the readings locked
-- (minutes per ten million; docs/ingest.md, "Upgrading"). A reading whose
-- record id is not the one its device and sequence make is not dropped
-- silently: the migration stops and says which day holds it.
LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;

-- Migration 016 listed every pair; a row added since by hand would
-- otherwise lose its reading.
INSERT INTO ingest.patient_devices (patient, device_id)
    SELECT DISTINCT patient, device_id FROM ingest.records
    ON CONFLICT DO NOTHING;
ALTER TABLE ingest.patient_devices ADD COLUMN pair_no integer GENERATED ALWAYS AS IDENTITY;
ALTER TABLE ingest.patient_devices ADD CONSTRAINT patient_devices_pair_no_key UNIQUE (pair_no);
-- Whether a device's sequence is stored is asked by device (ingest's
-- idempotency): its pairs by their device.
CREATE INDEX patient_devices_by_device ON ingest.patient_devices (device_id) INCLUDE (pair_no);

-- The record id of a device's reading, as ingest makes it
-- (ehr_ingest::pipeline::record_id): `<device>:<seq>`, or `h:` and 40 hex
-- digits of the SHA-256 of that when it is longer than 64 bytes. The
-- sequence is the device's, unsigned 64 bits: stored as bigint, one above
-- 2^63 - 1 reads negative, and is spelled out as the device sent it.
CREATE FUNCTION ingest.record_id(device_id text, device_seq bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN octet_length(plain) <= 64 THEN plain
                ELSE 'h:' || left(encode(sha256(convert_to(plain, 'UTF8')), 'hex'), 40) END
    FROM (SELECT device_id || ':' || CASE WHEN device_seq < 0
                                          THEN (device_seq::numeric + 18446744073709551616)::text
                                          ELSE device_seq::text END AS plain) p
$$;

-- Leaf `leaf_index` of a batch of `size` records from its tree (`tree`, in
-- blocks of 2^`block_bits`), as ehr_ledger::crypto::block_tree lays it out:
-- block after block at a fixed stride, each the length of its root's path
-- (a byte), that path in ⌈log2 blocks⌉ 32-byte slots, then its leaves.
-- For people and tools (ingest.stored_records) and the way back (down.sql);
-- the services take the leaf from the slice they read for its path.
CREATE FUNCTION ingest.tree_leaf(tree bytea, block_bits integer, size integer, leaf_index integer)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT substring(tree FROM 1 + (leaf_index >> block_bits) * (1 + 32 * top + 32 * (1 << block_bits))
                              + 1 + 32 * top + 32 * (leaf_index & ((1 << block_bits) - 1))
                     FOR 32)
    FROM (SELECT length(ltrim(((((size - 1) >> block_bits))::bit(32))::text, '0')) AS top) t
$$;

-- Fixed-width columns first, widest first: no byte of alignment padding.
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
    -- Only in rows of batches without a tree.
    ciphertext_sha256  bytea,
    ciphertext         bytea,
    merkle_path        bytea
) PARTITION BY RANGE (measured_at);

DO $$
DECLARE
    p record;
    moved bigint;
    held bigint;
BEGIN
    FOR p IN SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'ingest.records'::regclass ORDER BY c.relname LOOP
        EXECUTE format('ALTER TABLE ingest.%I RENAME TO %I', p.name, p.name || '_before_017');
        EXECUTE format('CREATE TABLE ingest.%I (LIKE ingest.records_numbered INCLUDING DEFAULTS)', p.name);
        -- A row's leaf goes where its batch's tree holds the same one; a row
        -- that disagrees with its tree keeps its own.
        EXECUTE format(
            'INSERT INTO ingest.%I (record_seq, measured_at, device_seq, batch_id, erasure_id, pair_no,
                                    leaf_index, category, loinc, key_id, content_sha256, ciphertext_sha256,
                                    ciphertext, merkle_path)
             SELECT r.record_seq, r.measured_at, r.device_seq, r.batch_id, r.erasure_id, d.pair_no,
                    r.leaf_index, r.category, r.loinc, r.key_id, r.content_sha256,
                    CASE WHEN r.ciphertext_sha256 IS DISTINCT FROM
                              (SELECT ingest.tree_leaf(t.tree, t.block_bits, b.record_count, r.leaf_index)
                               FROM ingest.batch_trees t JOIN ingest.batches b ON b.batch_id = t.batch_id
                               WHERE t.batch_id = r.batch_id)
                         THEN r.ciphertext_sha256 END,
                    r.ciphertext, r.merkle_path
             FROM ingest.%I r
             JOIN ingest.patient_devices d ON d.patient = r.patient AND d.device_id = r.device_id
             WHERE r.record_id = ingest.record_id(r.device_id, r.device_seq)
             ORDER BY r.record_seq',
            p.name, p.name || '_before_017');
        GET DIAGNOSTICS moved = ROW_COUNT;
        EXECUTE format('SELECT count(*) FROM ingest.%I', p.name || '_before_017') INTO held;
        IF moved <> held THEN
            RAISE EXCEPTION '% readings in ingest.% have a record id other than their device and sequence make: migration 017 would lose it',
                held - moved, p.name
                USING ERRCODE = '23514';
        END IF;
        EXECUTE format('ALTER TABLE ingest.records_numbered ATTACH PARTITION ingest.%I %s', p.name, p.bound);
    END LOOP;
END
$$;

-- The readings as they were, with their days' partitions (renamed above).
DROP TABLE ingest.records;
ALTER TABLE ingest.records_numbered RENAME TO records;
ALTER TABLE ingest.records ADD CONSTRAINT records_pkey PRIMARY KEY (record_seq, measured_at);
-- The idempotency key, per day, and the read index: a patient's readings
-- are those of her pairs (ingest.pairs_of).
ALTER TABLE ingest.records ADD CONSTRAINT records_pair_seq_key UNIQUE (pair_no, device_seq, measured_at);
ALTER TABLE ingest.records ADD FOREIGN KEY (batch_id) REFERENCES ingest.batches (batch_id);
GRANT SELECT, INSERT ON ingest.records TO ehr_ingest;
GRANT UPDATE (ciphertext, erasure_id) ON ingest.records TO ehr_ingest;
GRANT SELECT ON ingest.records TO ehr_gateway;

-- The pairs whose readings a query for `patient` looks among: every query of
-- a patient's readings says `pair_no = ANY((SELECT ingest.pairs_of($1))::int[])`
-- — the function in a subquery of its own, so that it runs once per query,
-- not per row. A pair names its patient: a reading is hers by its own row.
DROP FUNCTION ingest.devices_of(text);
CREATE FUNCTION ingest.pairs_of(patient text) RETURNS integer[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(d.pair_no), '{}') FROM ingest.patient_devices d
    WHERE d.patient = pairs_of.patient
$$;
REVOKE ALL ON FUNCTION ingest.pairs_of(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.pairs_of(text) TO ehr_ingest, ehr_gateway;

-- The readings with their names spelled out, for people and tools (the
-- owner's psql, the checks of the consortium's main job); the services read
-- the table.
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
