-- Only possible while every key is a record's own (no shared key stored yet).
ALTER TABLE ingest.wrapped_keys RENAME COLUMN key_id TO record_id;
ALTER TABLE ingest.wrapped_keys ADD CONSTRAINT wrapped_keys_record_id_fkey
    FOREIGN KEY (record_id) REFERENCES ingest.records (record_id);
ALTER TABLE ingest.records DROP COLUMN key_id;
