-- Stored readings partitioned by the UTC day they were measured (docs/ingest.md,
-- "Partitions and retention"): an insert touches today's small indexes, a
-- query for a day reads that day's partition, and a day leaves the database
-- whole (archived, then detached and dropped) instead of being deleted row by
-- row. The table keeps its name and columns: everything that reads it is
-- unchanged.
--
-- The readings already stored stay where they are: the old table becomes the
-- partition `ingest.records_history`, holding every day up to the last one it
-- has a reading of (an empty database: up to 2000-01-01). Days after it get
-- a partition each, made ahead of need by ingest.make_record_days.
ALTER TABLE ingest.records RENAME TO records_history;
ALTER INDEX ingest.records_by_patient RENAME TO records_history_by_patient;
-- A partitioned table's unique keys hold its partition key.
ALTER TABLE ingest.records_history DROP CONSTRAINT records_pkey;
ALTER TABLE ingest.records_history DROP CONSTRAINT records_device_id_device_seq_key;
ALTER TABLE ingest.records_history ADD CONSTRAINT records_history_pkey PRIMARY KEY (record_seq, measured_at);

CREATE TABLE ingest.records (LIKE ingest.records_history INCLUDING DEFAULTS)
    PARTITION BY RANGE (measured_at);
ALTER TABLE ingest.records ADD PRIMARY KEY (record_seq, measured_at);
-- The idempotency key, per day: a reading sent again has the same time, so
-- the same partition. A sequence reused at another time is caught before
-- the write by the device's highest sequence (ingest.device_seqs).
ALTER TABLE ingest.records ADD CONSTRAINT records_device_seq_key UNIQUE (device_id, device_seq, measured_at);
ALTER TABLE ingest.records ADD FOREIGN KEY (batch_id) REFERENCES ingest.batches (batch_id);
CREATE INDEX records_by_patient ON ingest.records (patient, category, measured_at);

DO $$
DECLARE
    history_end date := greatest(
        date '2000-01-01',
        (SELECT (max(measured_at) AT TIME ZONE 'UTC')::date + 1 FROM ingest.records_history));
BEGIN
    EXECUTE format(
        'ALTER TABLE ingest.records ATTACH PARTITION ingest.records_history
           FOR VALUES FROM (MINVALUE) TO (%L)',
        history_end::timestamp AT TIME ZONE 'UTC');
END
$$;

-- One row per daily partition, made or archived: an archived day is never
-- made again, and its archive's hash stays on record.
CREATE TABLE ingest.record_days (
    day               date PRIMARY KEY,
    made_at           timestamptz NOT NULL DEFAULT now(),
    archived_at       timestamptz,
    archived_records  bigint,
    archive_sha256    bytea
);

-- Makes the daily partitions of days from .. through that are missing (never
-- before the history's end, never more than 62 days ahead, and — but for the
-- owner — never more than 32 days back, where no reading is accepted). Ingest
-- calls it with its first write and each new day, for two days ahead, and
-- before writing a reading of a day not made; it runs as the tables' owner,
-- so ingest needs no right to create tables. A partition is made as a table
-- and then attached, which locks the readings' table only against other
-- attaches (CREATE … PARTITION OF would lock out every read and write).
CREATE FUNCTION ingest.make_record_days(from_day date, through_day date) RETURNS integer
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
REVOKE ALL ON FUNCTION ingest.make_record_days(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.make_record_days(date, date) TO ehr_ingest;

-- Each device's highest sequence stored: a reading above it is new without a
-- look at the readings; at or below it, the readings are searched for it.
CREATE TABLE ingest.device_seqs (
    device_id  text PRIMARY KEY,
    max_seq    bigint NOT NULL
);
INSERT INTO ingest.device_seqs (device_id, max_seq)
    SELECT device_id, max(device_seq) FROM ingest.records_history GROUP BY device_id;

-- The data keys of archived readings (ehr-archive), so that an erasure of
-- the patient's still shreds them: their wraps stay in the database.
-- Per key and category, the highest anchor of the readings it opens: an
-- erasure covers only what was anchored at or before it.
CREATE TABLE ingest.archived_keys (
    key_id    text NOT NULL,
    category  smallint NOT NULL,
    patient   text NOT NULL,
    height    bigint NOT NULL,
    PRIMARY KEY (key_id, category)
);
CREATE INDEX archived_keys_by_patient ON ingest.archived_keys (patient);

GRANT SELECT, INSERT ON ingest.records TO ehr_ingest;
GRANT SELECT ON ingest.archived_keys TO ehr_ingest;
GRANT UPDATE (ciphertext, erasure_id) ON ingest.records TO ehr_ingest;
GRANT SELECT ON ingest.records TO ehr_gateway;
GRANT SELECT ON ingest.record_days TO ehr_ingest, ehr_gateway;
GRANT SELECT, INSERT, UPDATE ON ingest.device_seqs TO ehr_ingest;

-- Yesterday to the day after tomorrow; the days of late readings are made
-- when one comes (every partition, even empty, is one more for a query
-- without a time window to look into).
SELECT ingest.make_record_days((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 2);
