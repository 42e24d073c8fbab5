-- An open day's primary key leads with the reading's (patient, device) pair:
-- (pair, record, time) instead of (record, time). A page of a patient's day
-- is her readings after a record number, in record order: with the old key,
-- PostgreSQL read all her readings of the day through the unique key and
-- sorted them, for every page (a day of 25 000 readings: p99 61 ms at 30
-- million, docs/BENCHMARKS.md); with this one, the gateway reads each of her
-- pairs' next readings in order, a page's worth. Still unique (a record
-- number is); written a pair's run at a time, like the unique key, its pages
-- split half full: 65.9 bytes a reading against 31.5. A day's readings are read by
-- record number alone only for batches from before trees (their leaves in
-- their rows), which are in the history: its rows keep their key. Each
-- open day's key is rebuilt here, the readings held meanwhile (seconds a
-- million readings); closed days have no key.
LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;

-- Migration 020's keying of a day, with the new primary key.
CREATE OR REPLACE FUNCTION ingest.index_record_partition(part text, closed boolean, named text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF closed THEN
        EXECUTE format('CREATE INDEX %I ON ingest.%I USING brin (pair_no, device_seq, record_seq, measured_at)',
                       coalesce(named, part) || '_brin', part);
        EXECUTE format('CREATE OR REPLACE TRIGGER refuse_readings BEFORE INSERT ON ingest.%I
                          FOR EACH ROW EXECUTE FUNCTION ingest.refuse_reading_on_closed_day()', part);
    ELSE
        -- The history's rows are looked up by record number alone (batches
        -- from before trees: their leaves are in the rows).
        EXECUTE format('ALTER TABLE ingest.%I ADD CONSTRAINT %I PRIMARY KEY (%s)', part, part || '_pkey',
                       CASE WHEN part = 'records_history' THEN 'record_seq, measured_at'
                            ELSE 'pair_no, record_seq, measured_at' END);
        EXECUTE format('ALTER TABLE ingest.%I ADD CONSTRAINT %I UNIQUE (pair_no, device_seq, measured_at)',
                       part, part || '_pair_seq_key');
        EXECUTE format('ALTER TABLE ingest.%I ADD CONSTRAINT %I FOREIGN KEY (batch_id)
                          REFERENCES ingest.batches (batch_id)', part, part || '_batch_id_fkey');
    END IF;
END
$$;

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'ingest.records'::regclass AND c.relname <> 'records_history'
               AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.conname = c.relname || '_pkey')
             ORDER BY c.relname LOOP
        EXECUTE format('ALTER TABLE ingest.%I DROP CONSTRAINT %I, ADD CONSTRAINT %I PRIMARY KEY (pair_no, record_seq, measured_at)',
                       p.name, p.name || '_pkey', p.name || '_pkey');
    END LOOP;
END
$$;
