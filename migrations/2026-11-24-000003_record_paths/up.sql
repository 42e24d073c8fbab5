-- Each record's Merkle path to its batch root (sibling hashes, leaf to root,
-- 32 bytes each), written with the batch: a reader verifies a record against
-- the anchored root without the other records of its batch, so altering one
-- stored record cannot make its neighbours unverifiable. NULL for records
-- written before this column existed (their paths are rebuilt from the leaves).
ALTER TABLE ingest.records ADD COLUMN merkle_path bytea;
