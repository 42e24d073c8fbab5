-- Back to the readings' keys on ingest.records: closed days are opened again
-- (their BRIN and trigger dropped; the keys are then built on every day,
-- closed ones included), and the functions as migrations 015 and 018 left
-- them. The content hashes a closing emptied stay empty (they are gone): a
-- reading of a day once closed is more than 30 days old, so none sent again
-- reaches it, and a sequence found there is refused as reused either way.
LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'ingest.records'::regclass LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS refuse_readings ON ingest.%I', p.name);
        EXECUTE format('DROP INDEX IF EXISTS ingest.%I', p.name || '_brin');
        EXECUTE format('ALTER TABLE ingest.%I DROP CONSTRAINT IF EXISTS %I', p.name, p.name || '_pkey');
        EXECUTE format('ALTER TABLE ingest.%I DROP CONSTRAINT IF EXISTS %I', p.name, p.name || '_pair_seq_key');
        EXECUTE format('ALTER TABLE ingest.%I DROP CONSTRAINT IF EXISTS %I', p.name, p.name || '_batch_id_fkey');
    END LOOP;
END
$$;
ALTER TABLE ingest.records ADD CONSTRAINT records_pkey PRIMARY KEY (record_seq, measured_at);
ALTER TABLE ingest.records ADD CONSTRAINT records_pair_seq_key UNIQUE (pair_no, device_seq, measured_at);
ALTER TABLE ingest.records ADD FOREIGN KEY (batch_id) REFERENCES ingest.batches (batch_id);
DROP PROCEDURE ingest.close_record_day(date, bigint);
DROP FUNCTION ingest.index_record_partition(text, boolean, text);
DROP FUNCTION ingest.refuse_reading_on_closed_day();
ALTER TABLE ingest.record_days DROP COLUMN closed_at;

CREATE OR REPLACE FUNCTION ingest.make_record_days(from_day date, through_day date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET lock_timeout = '10s' AS $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    history_end date;
    d date;
    part text;
    made integer := 0;
BEGIN
    IF through_day > today + 62 THEN
        RAISE EXCEPTION 'a partition of readings is made at most 62 days ahead, not for %', through_day
            USING ERRCODE = '22023';
    END IF;
    IF from_day < today - 32 AND NOT EXISTS (
        SELECT 1 FROM pg_roles r, pg_class c
        WHERE c.oid = 'ingest.records'::regclass AND r.rolname = session_user
          AND (r.rolsuper OR r.oid = c.relowner)) THEN
        RAISE EXCEPTION 'no reading is accepted for %: its partition is not made', from_day
            USING ERRCODE = '22023';
    END IF;
    -- Two instances making the same day wait for each other.
    PERFORM pg_advisory_xact_lock(1162367490);  -- 0x45485202
    SELECT ((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
             AT TIME ZONE 'UTC')::date
      INTO history_end
      FROM pg_class c WHERE c.oid = 'ingest.records_history'::regclass;
    d := greatest(from_day, history_end);
    WHILE d <= through_day LOOP
        IF NOT EXISTS (SELECT 1 FROM ingest.record_days WHERE day = d) THEN
            part := 'records_' || to_char(d, 'YYYYMMDD');
            EXECUTE format('CREATE TABLE ingest.%I (LIKE ingest.records INCLUDING DEFAULTS)', part);
            EXECUTE format(
                'ALTER TABLE ingest.records ATTACH PARTITION ingest.%I FOR VALUES FROM (%L) TO (%L)',
                part, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
            INSERT INTO ingest.record_days (day) VALUES (d);
            made := made + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN made;
END
$$;

CREATE OR REPLACE FUNCTION ingest.rewrite_readings(layout text, rows_sql text, lost text) RETURNS void
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
