ALTER TABLE ingest.records DROP COLUMN merkle_path;
