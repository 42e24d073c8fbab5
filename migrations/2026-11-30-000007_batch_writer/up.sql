-- Several ingest services may share a topic (one consumer group); each anchors
-- the batches it wrote, under its own key, and no other's. Batches written
-- before have no writer: any service anchors them.
ALTER TABLE ingest.batches ADD COLUMN writer text;
CREATE INDEX batches_pending_by_writer ON ingest.batches (writer, batch_id) WHERE status = 'pending';
