DROP TABLE gateway.followed_height;
REVOKE DELETE ON gateway.document_keys FROM ehr_gateway;
REVOKE UPDATE (ciphertext, erasure_id) ON gateway.documents FROM ehr_gateway;
REVOKE SELECT (loinc, hour) ON analytics.readings FROM ehr_ingest;
REVOKE DELETE ON ingest.wrapped_keys FROM ehr_ingest;
REVOKE UPDATE (ciphertext, erasure_id) ON ingest.records FROM ehr_ingest;
ALTER TABLE gateway.documents DROP COLUMN erasure_id;
ALTER TABLE ingest.records DROP COLUMN erasure_id;
