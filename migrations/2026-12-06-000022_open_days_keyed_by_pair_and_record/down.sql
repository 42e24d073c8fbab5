-- Back to an open day's primary key on (record, time), as migration 020
-- keyed the days.
LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;

CREATE OR REPLACE FUNCTION ingest.index_record_partition(part text, closed boolean, named text DEFAULT NULL) RETURNS void
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

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'ingest.records'::regclass AND c.relname <> 'records_history'
               AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.conname = c.relname || '_pkey')
             ORDER BY c.relname LOOP
        EXECUTE format('ALTER TABLE ingest.%I DROP CONSTRAINT %I, ADD CONSTRAINT %I PRIMARY KEY (record_seq, measured_at)',
                       p.name, p.name || '_pkey', p.name || '_pkey');
    END LOOP;
END
$$;
