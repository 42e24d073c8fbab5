-- Erasure (docs/ledger.md): the services follow the chain's erasures and
-- crypto-shred — a record's ciphertext set to nothing, every wrap of a key
-- that opens only erased records deleted, analytics rows deleted. The row
-- stays with its hash and the erasure's number, so a reader is told it was
-- erased (and proves that on chain) rather than find it missing.
ALTER TABLE ingest.records ALTER COLUMN ciphertext DROP NOT NULL;
ALTER TABLE ingest.records ADD COLUMN erasure_id bigint;
ALTER TABLE gateway.documents ALTER COLUMN ciphertext DROP NOT NULL;
ALTER TABLE gateway.documents ADD COLUMN erasure_id bigint;
GRANT UPDATE (ciphertext, erasure_id) ON ingest.records TO ehr_ingest;
GRANT DELETE ON ingest.wrapped_keys TO ehr_ingest;
-- A DELETE … WHERE pseudonym, loinc, hour reads those columns only.
GRANT SELECT (pseudonym, loinc, hour) ON analytics.readings TO ehr_ingest;
GRANT UPDATE (ciphertext, erasure_id) ON gateway.documents TO ehr_gateway;
GRANT DELETE ON gateway.document_keys TO ehr_gateway;
-- The last block a gateway followed for erasures.
CREATE TABLE gateway.followed_height (
    service text PRIMARY KEY,
    height  bigint NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON gateway.followed_height TO ehr_gateway;
