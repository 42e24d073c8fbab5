-- A data key may serve several records (envelope v2: one key per patient and
-- batch, wrapped once per reader). A record names the key it is encrypted
-- under; wraps belong to keys. Records stored before keep a key of their
-- own, whose id is the record's id (their wraps are version 1, bound to it).
ALTER TABLE ingest.records ADD COLUMN key_id text;
UPDATE ingest.records SET key_id = record_id;
ALTER TABLE ingest.records ALTER COLUMN key_id SET NOT NULL;

ALTER TABLE ingest.wrapped_keys DROP CONSTRAINT wrapped_keys_record_id_fkey;
ALTER TABLE ingest.wrapped_keys RENAME COLUMN record_id TO key_id;
