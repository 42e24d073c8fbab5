-- A day no reading can reach any more (more than 31 days old) is closed:
-- its readings are rewritten sorted by (pair, record) and its two B-trees
-- replaced by one BRIN (a few bytes a reading instead of ≈ 70), and a
-- trigger refuses any reading routed to it — with no unique key left, the
-- database itself keeps the day as it was proven and stored
-- (docs/ingest.md, "Partitions and retention").
--
-- PostgreSQL keeps a partitioned table's constraints on every one of its
-- partitions, so the readings' primary key, unique key and foreign key to
-- their batches move from ingest.records to each day: every partition is
-- keyed here (each day's keys rebuilt, under the lock below: seconds a
-- million readings), and each new day is keyed when it is made
-- (ingest.make_record_days). A closed day keeps no foreign key: nothing is
-- written to it, and checking one while it is swapped in would hold the
-- batches, and so every write, for the whole closing.
LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;
ALTER TABLE ingest.records DROP CONSTRAINT records_pkey;
ALTER TABLE ingest.records DROP CONSTRAINT records_pair_seq_key;
DO $$
BEGIN
    EXECUTE format('ALTER TABLE ingest.records DROP CONSTRAINT %I',
                   (SELECT conname FROM pg_constraint
                    WHERE conrelid = 'ingest.records'::regclass AND contype = 'f'));
END
$$;
ALTER TABLE ingest.record_days ADD COLUMN closed_at timestamptz;

-- Refuses a reading routed to a closed day.
CREATE FUNCTION ingest.refuse_reading_on_closed_day() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'no reading is accepted for %: the day is closed (a reading more than 30 days old is refused)',
        (NEW.measured_at AT TIME ZONE 'UTC')::date
        USING ERRCODE = '22023';
END
$$;

-- A day's partition keyed as an open day (the primary key, the unique key
-- that is ingest's idempotency per day and the read index, the foreign key
-- to its batches) or indexed as a closed one: one BRIN over its rows sorted
-- by (pair, record) — a pair's readings are a run of pages, along which its
-- device sequences and times rise too — and a trigger refusing readings.
-- 128 pages a range (PostgreSQL's default): at 30 million readings a day, a
-- query reads a 0.6 MB index and its pair's run plus at most a range more,
-- where 16 pages a range made the index read on every query 6 MB (p99 56 ms
-- for a patient's day, docs/BENCHMARKS.md). `named`: the day's partition
-- name, when `part` is a table that will take its place.
CREATE FUNCTION ingest.index_record_partition(part text, closed boolean, named text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF closed THEN
        EXECUTE format('CREATE INDEX %I ON ingest.%I USING brin (pair_no, device_seq, record_seq, measured_at)',
                       coalesce(named, part) || '_brin', part);
        EXECUTE format('CREATE OR REPLACE TRIGGER refuse_readings BEFORE INSERT ON ingest.%I
                          FOR EACH ROW EXECUTE FUNCTION ingest.refuse_reading_on_closed_day()', part);
    ELSE
        EXECUTE format('ALTER TABLE ingest.%I ADD CONSTRAINT %I PRIMARY KEY (record_seq, measured_at)',
                       part, part || '_pkey');
        EXECUTE format('ALTER TABLE ingest.%I ADD CONSTRAINT %I UNIQUE (pair_no, device_seq, measured_at)',
                       part, part || '_pair_seq_key');
        EXECUTE format('ALTER TABLE ingest.%I ADD CONSTRAINT %I FOREIGN KEY (batch_id)
                          REFERENCES ingest.batches (batch_id)', part, part || '_batch_id_fkey');
    END IF;
END
$$;
REVOKE ALL ON FUNCTION ingest.index_record_partition(text, boolean, text) FROM PUBLIC;

SELECT ingest.index_record_partition(c.relname, false)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'ingest.records'::regclass;

-- As migration 015 made it, each day keyed before it is attached (an empty
-- table: nothing to build).
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
            PERFORM ingest.index_record_partition(part, false);
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

-- Closes day `d` (the owner's: `ehr-db close-days`), its readings counted in
-- `readings`; a day already closed counts 0. In two transactions (a
-- procedure, CALLed on its own), each holding the closing's advisory lock
-- (ehr_migrations::CLOSING_LOCK), which an erasure takes shared and the
-- archive alone, so that nothing changes the day while it is copied:
-- 1. short: the day refuses readings from now on (this waits for writes of it
--    under way, at most 10 s) and drops its foreign key to the batches;
-- 2. its rows copied sorted into a new table, indexed as closed, which then
--    takes the partition's place: the readings' table is held only for the
--    swap (at most 10 s of waiting for running queries, then milliseconds),
--    and the batches not at all. Reads of the day go on during the copy.
-- A failure in 2 leaves the day open, refusing readings; run again, it
-- closes. No SET clause: a procedure with one may not commit.
CREATE PROCEDURE ingest.close_record_day(d date, INOUT readings bigint DEFAULT NULL)
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
REVOKE ALL ON PROCEDURE ingest.close_record_day(date, bigint) FROM PUBLIC;

-- Migration 018's rewrite of every day (for later migrations that change the
-- readings' columns), keying each day as above instead of the readings'
-- table: a closed day is written sorted and indexed as closed again, so
-- `rows_sql` must return `pair_no` and `record_seq` under those names. The
-- days are keyed once the old ones are dropped (their indexes keep the
-- days' names until then).
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
