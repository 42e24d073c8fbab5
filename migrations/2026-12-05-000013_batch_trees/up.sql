-- A batch's Merkle tree, kept once as blocks (abci-app/core/src/crypto/
-- block_tree.rs): per block, its root's path among the block roots, then its
-- leaves. A record's audit path is derived from its block's slice when it is
-- read, instead of being stored with every record (a path of 32 bytes per
-- level of the tree: the largest part of a stored reading). Records stored
-- before keep their merkle_path; what a reader proves is the same.
CREATE TABLE ingest.batch_trees (
    batch_id    bigint PRIMARY KEY REFERENCES ingest.batches (batch_id),
    block_bits  smallint NOT NULL CHECK (block_bits BETWEEN 0 AND 16),
    tree        bytea NOT NULL
);
-- Read a slice at a time (substring): kept uncompressed out of line, so a
-- slice fetches only the TOAST chunks it lies in.
ALTER TABLE ingest.batch_trees ALTER COLUMN tree SET STORAGE EXTERNAL;
GRANT SELECT, INSERT ON ingest.batch_trees TO ehr_ingest;
GRANT SELECT ON ingest.batch_trees TO ehr_gateway;
