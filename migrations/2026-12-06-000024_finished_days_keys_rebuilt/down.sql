ALTER TABLE ingest.record_days DROP COLUMN keys_rebuilt_at;
