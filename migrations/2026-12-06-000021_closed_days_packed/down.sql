-- Back to migration 020's closed days: the analysts' closed hours spelled
-- out again as rows of one unpartitioned table, and the closing and the
-- rewrite as 020 made them. Days closed since stay as they were written
-- (their columns in another order, the rarely set ones added after their
-- rows): PostgreSQL reads them alike.
LOCK TABLE analytics.values IN ACCESS EXCLUSIVE MODE;
DROP VIEW analytics.readings;
CREATE TABLE analytics.values_unpartitioned (LIKE analytics.values);
INSERT INTO analytics.values_unpartitioned (hour, value, pseudonym_no, code_no)
    SELECT hour, value, pseudonym_no, code_no FROM analytics.values
    UNION ALL
    SELECT h.hour, x.value, h.pseudonym_no, h.code_no
    FROM analytics.closed_hours h, unnest(h.hour_values) AS x(value)
    ORDER BY 1;
DROP TABLE analytics.closed_hours;
DROP PROCEDURE analytics.close_value_day(date, bigint);
DROP TRIGGER make_value_day ON ingest.record_days;
DROP FUNCTION analytics.make_value_day();
DROP TABLE analytics.values;
ALTER TABLE analytics.values_unpartitioned RENAME TO values;
CREATE INDEX values_by_code ON analytics.values (code_no, hour);
CREATE INDEX values_by_pseudonym ON analytics.values (pseudonym_no);
CREATE VIEW analytics.readings AS
SELECT p.pseudonym, c.loinc, v.value, c.unit, v.hour
FROM analytics.values v
JOIN analytics.pseudonyms p ON p.pseudonym_no = v.pseudonym_no
JOIN analytics.codes c ON c.code_no = v.code_no;
GRANT SELECT ON analytics.readings TO ehr_analyst;
GRANT INSERT, DELETE ON analytics.values TO ehr_ingest;
GRANT SELECT (pseudonym_no, code_no, hour) ON analytics.values TO ehr_ingest;
ALTER TABLE ingest.record_days DROP COLUMN values_closed_at;

-- The closing and the rewrite as migration 020 made them.
CREATE OR REPLACE PROCEDURE ingest.close_record_day(d date, INOUT readings bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'records_' || to_char(d, 'YYYYMMDD');
    sorted text := 'records_' || to_char(d, 'YYYYMMDD') || '_closing';
    lo timestamptz := d::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (d + 1)::timestamp AT TIME ZONE 'UTC';
    owner text := (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c
                   WHERE c.oid = 'ingest.records'::regclass);
    day_row ingest.record_days%ROWTYPE;
    columns text;
    held bigint;
BEGIN
    IF d > (now() AT TIME ZONE 'UTC')::date - 32 THEN
        RAISE EXCEPTION 'day % may still receive readings: a day is closed once it is more than 31 days old', d
            USING ERRCODE = '22023';
    END IF;
    FOR phase IN 1..2 LOOP
        PERFORM pg_catalog.pg_advisory_xact_lock(1162367491);  -- ehr_migrations::CLOSING_LOCK
        SELECT * INTO day_row FROM ingest.record_days WHERE day = d;
        IF NOT FOUND OR day_row.archived_at IS NOT NULL THEN
            RAISE EXCEPTION 'day % has no partition of readings (never made, or archived)', d
                USING ERRCODE = '22023';
        END IF;
        IF day_row.closed_at IS NOT NULL THEN
            readings := 0;
            RETURN;
        END IF;
        SET LOCAL lock_timeout = '10s';
        IF phase = 1 THEN
            EXECUTE format('CREATE OR REPLACE TRIGGER refuse_readings BEFORE INSERT ON ingest.%I
                              FOR EACH ROW EXECUTE FUNCTION ingest.refuse_reading_on_closed_day()', part);
            EXECUTE format('ALTER TABLE ingest.%I DROP CONSTRAINT IF EXISTS %I', part, part || '_batch_id_fkey');
            COMMIT;
        END IF;
    END LOOP;
    -- Every column but the content hash, which tells a reading sent again
    -- from another under the same sequence: none can reach a closed day (it
    -- would be more than 30 days old), and a sequence found here with an
    -- empty hash is refused as reused, as it should be (16 bytes a reading).
    SELECT string_agg(CASE a.attname WHEN 'content_hash' THEN '''''::bytea' ELSE quote_ident(a.attname) END,
                      ', ' ORDER BY a.attnum)
      INTO columns
      FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = 'ingest.records'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('CREATE TABLE ingest.%I (LIKE ingest.records INCLUDING DEFAULTS)', sorted);
    EXECUTE format('ALTER TABLE ingest.%I OWNER TO %I', sorted, owner);
    EXECUTE format('INSERT INTO ingest.%I SELECT %s FROM ingest.%I ORDER BY pair_no, record_seq',
                   sorted, columns, part);
    GET DIAGNOSTICS readings = ROW_COUNT;
    EXECUTE format('SELECT count(*) FROM ingest.%I', part) INTO held;
    IF readings <> held THEN
        RAISE EXCEPTION 'day %: % readings held, % copied', d, held, readings USING ERRCODE = '40001';
    END IF;
    -- Its bound checked now, so that the attach need not scan.
    EXECUTE format('ALTER TABLE ingest.%I ADD CONSTRAINT %I CHECK (measured_at >= %L AND measured_at < %L)',
                   sorted, part || '_bound', lo, hi);
    PERFORM ingest.index_record_partition(sorted, true, part);
    EXECUTE format('ANALYZE ingest.%I', sorted);
    EXECUTE format('ALTER TABLE ingest.records DETACH PARTITION ingest.%I', part);
    EXECUTE format('DROP TABLE ingest.%I', part);
    EXECUTE format('ALTER TABLE ingest.%I RENAME TO %I', sorted, part);
    EXECUTE format('ALTER TABLE ingest.records ATTACH PARTITION ingest.%I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    EXECUTE format('ALTER TABLE ingest.%I DROP CONSTRAINT %I', part, part || '_bound');
    UPDATE ingest.record_days SET closed_at = now() WHERE day = d;
    COMMIT;
END
$$;
CREATE OR REPLACE FUNCTION ingest.rewrite_readings(layout text, rows_sql text, lost text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    moved bigint;
    held bigint;
    days text[] := '{}';
    closed boolean[] := '{}';
BEGIN
    FOR p IN SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
                    EXISTS (SELECT 1 FROM ingest.record_days d WHERE d.closed_at IS NOT NULL
                              AND c.relname = 'records_' || to_char(d.day, 'YYYYMMDD')) AS closed
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'ingest.records'::regclass ORDER BY c.relname LOOP
        EXECUTE format('ALTER TABLE ingest.%I RENAME TO %I', p.name, p.name || '_rewritten');
        EXECUTE format('CREATE TABLE ingest.%I (LIKE ingest.%I INCLUDING DEFAULTS)', p.name, layout);
        EXECUTE format('INSERT INTO ingest.%I SELECT * FROM (', p.name) || format(rows_sql, p.name || '_rewritten')
                || ') q ORDER BY ' || CASE WHEN p.closed THEN 'pair_no, record_seq' ELSE 'record_seq' END;
        GET DIAGNOSTICS moved = ROW_COUNT;
        EXECUTE format('SELECT count(*) FROM ingest.%I', p.name || '_rewritten') INTO held;
        IF moved <> held THEN
            RAISE EXCEPTION '% readings in ingest.% %', held - moved, p.name, lost
                USING ERRCODE = '23503';
        END IF;
        EXECUTE format('ALTER TABLE ingest.%I ATTACH PARTITION ingest.%I %s', layout, p.name, p.bound);
        days := days || p.name::text;
        closed := closed || p.closed;
    END LOOP;
    -- The readings as they were, with their days' partitions (renamed above).
    DROP TABLE ingest.records;
    EXECUTE format('ALTER TABLE ingest.%I RENAME TO records', layout);
    FOR i IN 1..coalesce(array_length(days, 1), 0) LOOP
        PERFORM ingest.index_record_partition(days[i], closed[i]);
    END LOOP;
    GRANT SELECT, INSERT ON ingest.records TO ehr_ingest;
    GRANT UPDATE (ciphertext, erasure_id) ON ingest.records TO ehr_ingest;
    GRANT SELECT ON ingest.records TO ehr_gateway;
END
$$;

DROP FUNCTION ingest.write_closed_day(text, text, text);
DROP FUNCTION ingest.column_declared(oid, smallint);
DROP FUNCTION ingest.refuse_open_day(date);
