-- A stored reading names its data key by a number (ingest.data_keys), not
-- by the key's 34-character id, and keeps 16 bytes of its content's hash,
-- not 32: the hash tells a reading sent again from another one under the
-- same sequence (ingest's idempotency), which 128 bits do as well as 256
-- (a device that wanted a reading of its own dropped could just not send
-- it). Fixed-width columns first, widest first, so that no byte is padding:
-- ≈ 52 bytes of every stored reading (docs/BENCHMARKS.md, "Bytes per stored
-- reading"). Wraps keep the text id: it is what readers are given.
--
-- Every stored reading is rewritten, day by day, with the readings locked,
-- as migration 017 does (docs/ingest.md, "Upgrading").
LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;
DROP VIEW ingest.stored_records;

CREATE TABLE ingest.data_keys (
    key_no  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id  text NOT NULL UNIQUE
);
INSERT INTO ingest.data_keys (key_id)
    SELECT key_id FROM ingest.records GROUP BY key_id ORDER BY min(record_seq);
GRANT SELECT ON ingest.data_keys TO ehr_gateway;
-- Ingest numbers a key in the write that first stores a reading under it.
GRANT SELECT, INSERT ON ingest.data_keys TO ehr_ingest;

CREATE TABLE ingest.records_keyed (
    record_seq         bigint NOT NULL,
    measured_at        timestamptz NOT NULL,
    device_seq         bigint NOT NULL,
    batch_id           bigint NOT NULL,
    erasure_id         bigint,
    pair_no            integer NOT NULL,
    leaf_index         integer NOT NULL,
    key_no             integer NOT NULL,
    category           smallint NOT NULL,
    loinc              text NOT NULL,
    -- The first 16 bytes of the SHA-256 of the signed reading.
    content_hash       bytea NOT NULL,
    -- Only in rows of batches without a tree.
    ciphertext_sha256  bytea,
    ciphertext         bytea,
    merkle_path        bytea
) PARTITION BY RANGE (measured_at);

-- Rewrites the readings into the layout of `layout` (a table partitioned
-- like ingest.records, empty), a day's partition at a time: the partition
-- is renamed, a table like `layout` made in its place and filled by
-- `rows_sql` — a SELECT of `layout`'s columns in their order from the
-- renamed partition, which it names `%I` — and attached to `layout`, which
-- then becomes ingest.records with its keys and grants. A day whose SELECT
-- returns fewer rows than the day held stops it, named with `lost` (what
-- those rows lack), and nothing is changed. For this migration's up and
-- down, and those after it that change the readings' columns.
CREATE FUNCTION ingest.rewrite_readings(layout text, rows_sql text, lost text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    moved bigint;
    held bigint;
BEGIN
    FOR p IN SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'ingest.records'::regclass ORDER BY c.relname LOOP
        EXECUTE format('ALTER TABLE ingest.%I RENAME TO %I', p.name, p.name || '_rewritten');
        EXECUTE format('CREATE TABLE ingest.%I (LIKE ingest.%I INCLUDING DEFAULTS)', p.name, layout);
        EXECUTE format('INSERT INTO ingest.%I ', p.name) || format(rows_sql, p.name || '_rewritten');
        GET DIAGNOSTICS moved = ROW_COUNT;
        EXECUTE format('SELECT count(*) FROM ingest.%I', p.name || '_rewritten') INTO held;
        IF moved <> held THEN
            RAISE EXCEPTION '% readings in ingest.% %', held - moved, p.name, lost
                USING ERRCODE = '23503';
        END IF;
        EXECUTE format('ALTER TABLE ingest.%I ATTACH PARTITION ingest.%I %s', layout, p.name, p.bound);
    END LOOP;
    -- The readings as they were, with their days' partitions (renamed above).
    DROP TABLE ingest.records;
    EXECUTE format('ALTER TABLE ingest.%I RENAME TO records', layout);
    ALTER TABLE ingest.records ADD CONSTRAINT records_pkey PRIMARY KEY (record_seq, measured_at);
    -- The idempotency key, per day, and the read index: a patient's
    -- readings are those of her pairs (ingest.pairs_of).
    ALTER TABLE ingest.records ADD CONSTRAINT records_pair_seq_key UNIQUE (pair_no, device_seq, measured_at);
    ALTER TABLE ingest.records ADD FOREIGN KEY (batch_id) REFERENCES ingest.batches (batch_id);
    GRANT SELECT, INSERT ON ingest.records TO ehr_ingest;
    GRANT UPDATE (ciphertext, erasure_id) ON ingest.records TO ehr_ingest;
    GRANT SELECT ON ingest.records TO ehr_gateway;
END
$$;
REVOKE ALL ON FUNCTION ingest.rewrite_readings(text, text, text) FROM PUBLIC;

SELECT ingest.rewrite_readings('records_keyed', $$
    SELECT r.record_seq, r.measured_at, r.device_seq, r.batch_id, r.erasure_id, r.pair_no,
           r.leaf_index, k.key_no, r.category, r.loinc, substring(r.content_sha256 FOR 16),
           r.ciphertext_sha256, r.ciphertext, r.merkle_path
    FROM ingest.%I r JOIN ingest.data_keys k ON k.key_id = r.key_id
    ORDER BY r.record_seq$$,
    'were not given the number of their key: migration 018 would lose them');

-- The readings with their names spelled out, for people and tools (the
-- owner's psql, the checks of the consortium's main job); the services read
-- the table.
CREATE VIEW ingest.stored_records AS
SELECT r.record_seq, ingest.record_id(d.device_id, r.device_seq) AS record_id, d.device_id,
       r.device_seq, d.patient, r.category, r.loinc, r.measured_at, r.ciphertext,
       coalesce(r.ciphertext_sha256, ingest.tree_leaf(t.tree, t.block_bits, b.record_count, r.leaf_index))
         AS ciphertext_sha256,
       r.content_hash, r.batch_id, r.leaf_index, k.key_id,
       r.erasure_id, b.created_at AS stored_at, r.pair_no, r.key_no
FROM ingest.records r
JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
JOIN ingest.data_keys k ON k.key_no = r.key_no
JOIN ingest.batches b ON b.batch_id = r.batch_id
LEFT JOIN ingest.batch_trees t ON t.batch_id = r.batch_id;
