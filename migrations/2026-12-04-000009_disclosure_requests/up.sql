-- Each disclosure keeps the caller's signed request it answered (protobuf
-- SignedRequest): the ledger logs a disclosure only with it, checking that
-- the caller asked this gateway for this patient, category and purpose.
ALTER TABLE gateway.disclosures ADD COLUMN request bytea;
