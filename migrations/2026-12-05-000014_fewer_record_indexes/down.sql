ALTER TABLE ingest.records ADD CONSTRAINT records_record_id_key UNIQUE (record_id);
CREATE INDEX records_by_batch ON ingest.records (batch_id, leaf_index);
