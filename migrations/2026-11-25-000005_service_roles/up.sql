-- Least privilege: each service logs in as a member of its own role and can
-- do its work and nothing else. Only the database owner (who runs these
-- migrations) creates, alters or drops anything; nobody creates objects in
-- schema public. Roles are cluster-wide, so they are created once; log-in
-- users are made members of them (ehr-consortium does it per run).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ehr_ingest') THEN
        CREATE ROLE ehr_ingest NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ehr_gateway') THEN
        CREATE ROLE ehr_gateway NOLOGIN;
    END IF;
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA gateway FROM PUBLIC;

-- Ingest: writes records, keys, batches, rejects and de-identified rows;
-- deletes nothing, reads nothing of the gateway's.
GRANT USAGE ON SCHEMA ingest, analytics TO ehr_ingest;
GRANT SELECT, UPDATE ON ingest.counters TO ehr_ingest;
GRANT SELECT, INSERT, UPDATE ON ingest.batches TO ehr_ingest;
GRANT SELECT, INSERT ON ingest.records, ingest.wrapped_keys, ingest.rejects TO ehr_ingest;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ingest TO ehr_ingest;
GRANT INSERT ON analytics.readings TO ehr_ingest;

-- Gateway: reads records, batches and keys; adds the wraps patients upload;
-- keeps its own nonces, disclosure outbox and clinical documents. It cannot
-- alter or delete a record, a batch or a key.
GRANT USAGE ON SCHEMA ingest, gateway TO ehr_gateway;
GRANT SELECT ON ingest.records, ingest.batches TO ehr_gateway;
GRANT SELECT, INSERT ON ingest.wrapped_keys TO ehr_gateway;
GRANT SELECT, INSERT, DELETE ON gateway.nonces TO ehr_gateway;
GRANT SELECT, INSERT, UPDATE ON gateway.disclosures TO ehr_gateway;
GRANT SELECT, INSERT ON gateway.documents, gateway.document_keys TO ehr_gateway;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA gateway TO ehr_gateway;
GRANT SELECT ON __diesel_schema_migrations TO ehr_ingest, ehr_gateway;
