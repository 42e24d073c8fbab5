DROP SCHEMA gateway CASCADE;
ALTER TABLE ingest.batches DROP COLUMN service;
