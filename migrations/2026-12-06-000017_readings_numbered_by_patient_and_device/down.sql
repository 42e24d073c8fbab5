-- Back to rows that spell out their patient, device and record id (and the
-- time they were stored: their batch's, to the second it was made) and hold
-- their leaf (their batch tree's), in the column order migration 015 left,
-- day by day.
LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;
DROP VIEW ingest.stored_records;

CREATE TABLE ingest.records_named (
    record_seq         bigint NOT NULL,
    record_id          text NOT NULL,
    device_id          text NOT NULL,
    device_seq         bigint NOT NULL,
    content_sha256     bytea NOT NULL,
    patient            text NOT NULL,
    category           smallint NOT NULL,
    loinc              text NOT NULL,
    measured_at        timestamptz NOT NULL,
    ciphertext         bytea,
    ciphertext_sha256  bytea NOT NULL,
    batch_id           bigint NOT NULL,
    leaf_index         integer NOT NULL,
    stored_at          timestamptz NOT NULL DEFAULT now(),
    merkle_path        bytea,
    key_id             text NOT NULL,
    erasure_id         bigint
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
        EXECUTE format('ALTER TABLE ingest.%I RENAME TO %I', p.name, p.name || '_from_017');
        EXECUTE format('CREATE TABLE ingest.%I (LIKE ingest.records_named INCLUDING DEFAULTS)', p.name);
        EXECUTE format(
            'INSERT INTO ingest.%I
             SELECT r.record_seq, ingest.record_id(d.device_id, r.device_seq), d.device_id, r.device_seq,
                    r.content_sha256, d.patient, r.category, r.loinc, r.measured_at, r.ciphertext,
                    coalesce(r.ciphertext_sha256,
                             ingest.tree_leaf(t.tree, t.block_bits, b.record_count, r.leaf_index)),
                    r.batch_id, r.leaf_index, b.created_at, r.merkle_path,
                    r.key_id, r.erasure_id
             FROM ingest.%I r
             JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
             JOIN ingest.batches b ON b.batch_id = r.batch_id
             LEFT JOIN ingest.batch_trees t ON t.batch_id = r.batch_id
             ORDER BY r.record_seq',
            p.name, p.name || '_from_017');
        GET DIAGNOSTICS moved = ROW_COUNT;
        EXECUTE format('SELECT count(*) FROM ingest.%I', p.name || '_from_017') INTO held;
        IF moved <> held THEN
            RAISE EXCEPTION '% readings in ingest.% name a pair ingest.patient_devices does not hold: migration 017 cannot be reverted without losing them',
                held - moved, p.name
                USING ERRCODE = '23503';
        END IF;
        EXECUTE format('ALTER TABLE ingest.records_named ATTACH PARTITION ingest.%I %s', p.name, p.bound);
    END LOOP;
END
$$;

DROP TABLE ingest.records;
ALTER TABLE ingest.records_named RENAME TO records;
ALTER TABLE ingest.records ADD CONSTRAINT records_pkey PRIMARY KEY (record_seq, measured_at);
ALTER TABLE ingest.records ADD CONSTRAINT records_device_seq_key UNIQUE (device_id, device_seq, measured_at);
ALTER TABLE ingest.records ADD FOREIGN KEY (batch_id) REFERENCES ingest.batches (batch_id);
GRANT SELECT, INSERT ON ingest.records TO ehr_ingest;
GRANT UPDATE (ciphertext, erasure_id) ON ingest.records TO ehr_ingest;
GRANT SELECT ON ingest.records TO ehr_gateway;

DROP FUNCTION ingest.pairs_of(text);
DROP FUNCTION ingest.record_id(text, bigint);
DROP FUNCTION ingest.tree_leaf(bytea, integer, integer, integer);
DROP INDEX ingest.patient_devices_by_device;
ALTER TABLE ingest.patient_devices DROP COLUMN pair_no;
CREATE FUNCTION ingest.devices_of(patient text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(d.device_id), '{}') FROM ingest.patient_devices d
    WHERE d.patient = devices_of.patient
$$;
REVOKE ALL ON FUNCTION ingest.devices_of(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.devices_of(text) TO ehr_ingest, ehr_gateway;
