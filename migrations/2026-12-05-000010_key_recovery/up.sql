-- A gateway re-wraps a patient's escrowed data keys for the key her
-- recovery bound (docs/gateway.md): the new wrap replaces the one made for
-- the lost key, so the gateway may change a wrap's key and bytes, nothing
-- else. A document's wrap names the key it was made for once a recovery
-- made it (before, the reader's address alone), so a recovery asked twice
-- re-wraps, and discloses, nothing twice.
ALTER TABLE gateway.document_keys ADD COLUMN reader_public_key bytea;
GRANT UPDATE (reader_public_key, wrapped_key) ON ingest.wrapped_keys TO ehr_gateway;
GRANT UPDATE (reader_public_key, wrapped_key) ON gateway.document_keys TO ehr_gateway;
