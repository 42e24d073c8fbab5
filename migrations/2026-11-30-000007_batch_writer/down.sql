DROP INDEX ingest.batches_pending_by_writer;
ALTER TABLE ingest.batches DROP COLUMN writer;
