-- Two indexes of every stored reading that nothing needs (≈ 110 bytes a
-- reading at a million): a batch's records are the range first_record ..
-- last_record of the primary key, and a record id is its device's id and
-- sequence (`ingest::pipeline::record_id`), unique with them.
DROP INDEX ingest.records_by_batch;
ALTER TABLE ingest.records DROP CONSTRAINT records_record_id_key;
