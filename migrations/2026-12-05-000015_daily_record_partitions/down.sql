-- Back to one table: every daily partition's readings moved into the history
-- table, which becomes ingest.records again. Refused once a day was archived:
-- the archives' hashes and the archived readings' keys (which erasures must
-- still find) live in the tables this drops.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM ingest.record_days WHERE archived_at IS NOT NULL) THEN
        RAISE EXCEPTION 'days of readings were archived (ingest.record_days): migration 015 cannot be reverted';
    END IF;
END
$$;
DROP FUNCTION ingest.make_record_days(date, date);
ALTER TABLE ingest.records DETACH PARTITION ingest.records_history;
INSERT INTO ingest.records_history SELECT * FROM ingest.records;
DROP TABLE ingest.records;
DROP TABLE ingest.record_days;
DROP TABLE ingest.device_seqs;
DROP TABLE ingest.archived_keys;
ALTER TABLE ingest.records_history RENAME TO records;
ALTER INDEX ingest.records_history_by_patient RENAME TO records_by_patient;
ALTER TABLE ingest.records DROP CONSTRAINT records_history_pkey;
ALTER TABLE ingest.records ADD CONSTRAINT records_pkey PRIMARY KEY (record_seq);
ALTER TABLE ingest.records ADD CONSTRAINT records_device_id_device_seq_key UNIQUE (device_id, device_seq);
ALTER TABLE ingest.records DROP CONSTRAINT IF EXISTS records_history_device_id_device_seq_measured_at_key;
GRANT SELECT, INSERT ON ingest.records TO ehr_ingest;
GRANT UPDATE (ciphertext, erasure_id) ON ingest.records TO ehr_ingest;
GRANT SELECT ON ingest.records TO ehr_gateway;
