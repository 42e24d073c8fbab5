REVOKE UPDATE (reader_public_key, wrapped_key) ON ingest.wrapped_keys FROM ehr_gateway;
REVOKE UPDATE (reader_public_key, wrapped_key) ON gateway.document_keys FROM ehr_gateway;
ALTER TABLE gateway.document_keys DROP COLUMN reader_public_key;
