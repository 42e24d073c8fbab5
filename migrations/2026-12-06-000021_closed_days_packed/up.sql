-- A closed day in fewer bytes (docs/design/compact-readings.md, "Where it
-- stands"): its readings' rows carry no null bitmap and no padding, and the
-- analysts' values of its hours are packed, one row per pseudonym, code and
-- hour.
--
-- Readings. A heap row whose every stored column is set has no null bitmap
-- (8 bytes of header fewer with 14 columns). The rarely set columns (an
-- erasure, a leaf and path stored before batch trees) and the emptied
-- content hash are left out of a closed day's table while its rows are
-- written, then added: PostgreSQL reads a column added after a row was
-- written as its default (NULL, or the hash's '' kept as the column's
-- "missing" value), so those rows never store them. The rows that do set
-- one (an erased reading) are written after, whole. The columns kept are in
-- the order that needs no padding (8-byte, 4-byte, the ciphertext, then the
-- rest). A partition may order its columns unlike its table: PostgreSQL maps
-- them by name.
--
-- Analysts' values. `analytics.values` becomes partitioned by day like the
-- readings (a day registered in ingest.record_days makes its partition), so
-- that closing a day's values gives their pages back: they move into
-- `analytics.closed_hours`, an hour's values of one pseudonym and code in
-- one array (8 bytes a value, from 52 a row and two index entries), and
-- `analytics.readings` reads both.

-- A column of a table as a table of the same columns declares it: name,
-- type, collation where not its type's own, NOT NULL.
CREATE FUNCTION ingest.column_declared(rel oid, num smallint) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
           || CASE WHEN a.attcollation <> t.typcollation
                   THEN ' COLLATE ' || quote_ident(n.nspname) || '.' || quote_ident(c.collname) ELSE '' END
           || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_collation c ON c.oid = a.attcollation
    LEFT JOIN pg_namespace n ON n.oid = c.collnamespace
    WHERE a.attrelid = rel AND a.attnum = num
$$;
REVOKE ALL ON FUNCTION ingest.column_declared(oid, smallint) FROM PUBLIC;

-- Writes the rows of ingest.`source` (in the columns of ingest.`layout`)
-- into a new table ingest.`target` as a closed day keeps them, sorted by
-- (pair, record); returns how many. The content hash is emptied: it tells a
-- reading sent again from another under the same sequence, none can reach a
-- closed day, and a sequence found there with an empty hash is refused as
-- reused, as it should be.
CREATE FUNCTION ingest.write_closed_day(source text, target text, layout text DEFAULT 'records')
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept text;
    kept_columns text;
    rare text;
    rare_columns text;
    rare_unset text;
    hashed boolean := EXISTS (SELECT 1 FROM pg_attribute a
                              WHERE a.attrelid = format('ingest.%I', layout)::regclass
                                AND a.attname = 'content_hash' AND NOT a.attisdropped);
    written bigint;
    more bigint;
BEGIN
    -- Kept in every row: the columns that may not be null (but the hash) and
    -- the ciphertext, in the order that needs no padding. Each declared as
    -- the layout declares it (type, collation, NOT NULL), so that the table
    -- can take a day's place.
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.rank, a.attnum),
           string_agg(d.declared, ', ' ORDER BY k.rank, a.attnum)
      INTO kept, kept_columns
      FROM pg_attribute a,
           LATERAL (SELECT CASE WHEN a.attlen = 8 THEN 1
                                WHEN a.attlen = 4 THEN 2
                                WHEN a.attname = 'ciphertext' THEN 3
                                WHEN a.attlen > 0 THEN 4
                                ELSE 5 END AS rank) k,
           LATERAL ingest.column_declared(a.attrelid, a.attnum) d(declared)
      WHERE a.attrelid = format('ingest.%I', layout)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        AND a.attname <> 'content_hash' AND (a.attnotnull OR a.attname = 'ciphertext');
    -- Added after the rows: the columns rarely set.
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg('ADD COLUMN ' || d.declared, ', ' ORDER BY a.attnum),
           string_agg(format('%I IS NULL', a.attname), ' AND ' ORDER BY a.attnum)
      INTO rare, rare_columns, rare_unset
      FROM pg_attribute a,
           LATERAL ingest.column_declared(a.attrelid, a.attnum) d(declared)
      WHERE a.attrelid = format('ingest.%I', layout)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        AND NOT a.attnotnull AND a.attname NOT IN ('ciphertext', 'content_hash');
    EXECUTE format('CREATE TABLE ingest.%I (%s)', target, kept_columns);
    EXECUTE format('INSERT INTO ingest.%I (%s) SELECT %s FROM ingest.%I WHERE %s ORDER BY pair_no, record_seq',
                   target, kept, kept, source, coalesce(rare_unset, 'true'));
    GET DIAGNOSTICS written = ROW_COUNT;
    IF rare IS NOT NULL OR hashed THEN
        EXECUTE format('ALTER TABLE ingest.%I %s', target,
                       concat_ws(', ', rare_columns,
                                 CASE WHEN hashed THEN 'ADD COLUMN content_hash bytea NOT NULL DEFAULT ''''' END));
    END IF;
    IF hashed THEN
        EXECUTE format('ALTER TABLE ingest.%I ALTER COLUMN content_hash DROP DEFAULT', target);
    END IF;
    IF rare IS NOT NULL THEN
        EXECUTE format('INSERT INTO ingest.%I (%s, %s%s) SELECT %s, %s%s FROM ingest.%I
                          WHERE NOT (%s) ORDER BY pair_no, record_seq',
                       target, kept, rare, CASE WHEN hashed THEN ', content_hash' ELSE '' END,
                       kept, rare, CASE WHEN hashed THEN ', ''''::bytea' ELSE '' END, source, rare_unset);
        GET DIAGNOSTICS more = ROW_COUNT;
        written := written + more;
    END IF;
    RETURN written;
END
$$;
REVOKE ALL ON FUNCTION ingest.write_closed_day(text, text, text) FROM PUBLIC;

-- Refuses to close day `d` while readings may still reach it.
CREATE FUNCTION ingest.refuse_open_day(d date) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF d > (now() AT TIME ZONE 'UTC')::date - 32 THEN
        RAISE EXCEPTION 'day % may still receive readings: a day is closed once it is more than 31 days old', d
            USING ERRCODE = '22023';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION ingest.refuse_open_day(date) FROM PUBLIC;

-- Migration 020's closing, its rows written by ingest.write_closed_day.
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
    held bigint;
BEGIN
    PERFORM ingest.refuse_open_day(d);
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
    readings := ingest.write_closed_day(part, sorted);
    EXECUTE format('ALTER TABLE ingest.%I OWNER TO %I', sorted, owner);
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

-- Migration 020's rewrite of every day, a closed day's rows written by
-- ingest.write_closed_day from the rewritten rows. `rows_sql` names the
-- columns it reads from the day (`%I`): a closed day's table orders them
-- otherwise than the readings' table, so `SELECT *` of it would not match.
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
        EXECUTE format('CREATE TABLE ingest.%I (LIKE ingest.%I INCLUDING DEFAULTS)',
                       CASE WHEN p.closed THEN p.name || '_unpacked' ELSE p.name END, layout);
        EXECUTE format('INSERT INTO ingest.%I SELECT * FROM (',
                       CASE WHEN p.closed THEN p.name || '_unpacked' ELSE p.name END)
                || format(rows_sql, p.name || '_rewritten') || ') q ORDER BY record_seq';
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF p.closed THEN
            PERFORM ingest.write_closed_day(p.name || '_unpacked', p.name, layout);
            EXECUTE format('DROP TABLE ingest.%I', p.name || '_unpacked');
        END IF;
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

-- The analysts' values, partitioned by day: up to the readings' history end
-- in one partition, then one a day registered (made or archived) or holding
-- values.
LOCK TABLE analytics.values IN ACCESS EXCLUSIVE MODE;
DROP VIEW analytics.readings;
ALTER TABLE analytics.values RENAME TO values_unpartitioned;
CREATE TABLE analytics.values (LIKE analytics.values_unpartitioned) PARTITION BY RANGE (hour);
DO $$
BEGIN
    EXECUTE format('CREATE TABLE analytics.values_history PARTITION OF analytics.values
                      FOR VALUES FROM (MINVALUE) TO (%s)',
                   (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO (\(.*\))'))[1])
      FROM pg_class c WHERE c.oid = 'ingest.records_history'::regclass;
END
$$;

-- Makes the analysts' partition of a day registered (ingest.make_record_days
-- registers a day as it makes its readings' partition, as the owner): made
-- as a table and then attached, which locks the values only against other
-- attaches, as the readings' days are.
-- (A day may have its values' partition already: this migration makes one
-- for every day holding values.)
CREATE FUNCTION analytics.make_value_day() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part text := 'values_' || to_char(NEW.day, 'YYYYMMDD');
BEGIN
    IF to_regclass(format('analytics.%I', part)) IS NULL THEN
        EXECUTE format('CREATE TABLE analytics.%I (LIKE analytics.values)', part);
        EXECUTE format('ALTER TABLE analytics.values ATTACH PARTITION analytics.%I FOR VALUES FROM (%L) TO (%L)',
                       part, NEW.day::timestamp AT TIME ZONE 'UTC', (NEW.day + 1)::timestamp AT TIME ZONE 'UTC');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER make_value_day AFTER INSERT ON ingest.record_days
    FOR EACH ROW EXECUTE FUNCTION analytics.make_value_day();
DO $$
DECLARE
    history_end timestamptz := (SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                                     'TO \(''([^'']+)''\)'))[1]::timestamptz
                                FROM pg_class c WHERE c.oid = 'ingest.records_history'::regclass);
    d date;
BEGIN
    FOR d IN SELECT day FROM ingest.record_days
             UNION
             SELECT DISTINCT (hour AT TIME ZONE 'UTC')::date FROM analytics.values_unpartitioned
             WHERE hour >= history_end
             ORDER BY 1 LOOP
        EXECUTE format('CREATE TABLE analytics.%I PARTITION OF analytics.values FOR VALUES FROM (%L) TO (%L)',
                       'values_' || to_char(d, 'YYYYMMDD'),
                       d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
    END LOOP;
END
$$;
INSERT INTO analytics.values SELECT * FROM analytics.values_unpartitioned ORDER BY hour;
DROP TABLE analytics.values_unpartitioned;
CREATE INDEX values_by_code ON analytics.values (code_no, hour);
CREATE INDEX values_by_pseudonym ON analytics.values (pseudonym_no);

-- A closed hour: the values of one pseudonym and code measured in it, and
-- how many (what ingest, which may not read a value, counts as it deletes).
CREATE TABLE analytics.closed_hours (
    hour          timestamptz NOT NULL,
    pseudonym_no  integer NOT NULL,
    code_no       integer NOT NULL,
    value_count   integer NOT NULL,
    hour_values   double precision[] NOT NULL
);
CREATE INDEX closed_hours_by_code ON analytics.closed_hours (code_no, hour);
CREATE INDEX closed_hours_by_pseudonym ON analytics.closed_hours (pseudonym_no);
ALTER TABLE ingest.record_days ADD COLUMN values_closed_at timestamptz;

-- Closes the analysts' values of day `d` (the owner's: `ehr-db close-days`,
-- once the day's readings are closed), how many counted in `closed`; a day
-- already closed counts 0. In one transaction holding the closing's lock
-- (an erasure holds it shared, so none is under way): the day's partition
-- is held alone (waiting at most 10 s for the queries reading it, analysts'
-- or a withdrawal's delete), its values packed into
-- analytics.closed_hours and the partition emptied. A withdrawal or an
-- erasure deletes from analytics.values before analytics.closed_hours, each
-- in a statement of its own, so that one waiting here finds the values
-- packed when it gets to them.
CREATE PROCEDURE analytics.close_value_day(d date, INOUT closed bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'values_' || to_char(d, 'YYYYMMDD');
    day_row ingest.record_days%ROWTYPE;
    held bigint;
BEGIN
    PERFORM ingest.refuse_open_day(d);
    PERFORM pg_catalog.pg_advisory_xact_lock(1162367491);  -- ehr_migrations::CLOSING_LOCK
    SELECT * INTO day_row FROM ingest.record_days WHERE day = d;
    IF NOT FOUND OR pg_catalog.to_regclass(format('analytics.%I', part)) IS NULL THEN
        RAISE EXCEPTION 'day % has no partition of analysts'' values', d USING ERRCODE = '22023';
    END IF;
    IF day_row.values_closed_at IS NOT NULL THEN
        closed := 0;
        RETURN;
    END IF;
    IF day_row.closed_at IS NULL AND day_row.archived_at IS NULL THEN
        RAISE EXCEPTION 'day %''s readings are not closed: its values are closed after them', d
            USING ERRCODE = '22023';
    END IF;
    SET LOCAL lock_timeout = '10s';
    EXECUTE format('LOCK TABLE analytics.%I IN ACCESS EXCLUSIVE MODE', part);
    EXECUTE format('INSERT INTO analytics.closed_hours (hour, pseudonym_no, code_no, value_count, hour_values)
                      SELECT hour, pseudonym_no, code_no, count(*), array_agg(value)
                      FROM analytics.%I GROUP BY hour, pseudonym_no, code_no ORDER BY hour, code_no, pseudonym_no',
                   part);
    EXECUTE format('SELECT count(*) FROM analytics.%I', part) INTO held;
    EXECUTE format('TRUNCATE analytics.%I', part);
    UPDATE ingest.record_days SET values_closed_at = now() WHERE day = d;
    closed := held;
    COMMIT;
END
$$;
REVOKE ALL ON PROCEDURE analytics.close_value_day(date, bigint) FROM PUBLIC;

CREATE VIEW analytics.readings AS
SELECT p.pseudonym, c.loinc, v.value, c.unit, v.hour
FROM (SELECT hour, value, pseudonym_no, code_no FROM analytics.values
      UNION ALL
      SELECT h.hour, x.value, h.pseudonym_no, h.code_no
      FROM analytics.closed_hours h, unnest(h.hour_values) AS x(value)) v
JOIN analytics.pseudonyms p ON p.pseudonym_no = v.pseudonym_no
JOIN analytics.codes c ON c.code_no = v.code_no;
GRANT SELECT ON analytics.readings TO ehr_analyst;

GRANT INSERT, DELETE ON analytics.values TO ehr_ingest;
GRANT SELECT (pseudonym_no, code_no, hour) ON analytics.values TO ehr_ingest;
GRANT DELETE ON analytics.closed_hours TO ehr_ingest;
GRANT SELECT (pseudonym_no, code_no, hour, value_count) ON analytics.closed_hours TO ehr_ingest;
