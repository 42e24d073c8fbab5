REVOKE SELECT ON __diesel_schema_migrations FROM ehr_ingest, ehr_gateway;
REVOKE ALL ON ALL TABLES IN SCHEMA ingest, analytics, gateway FROM ehr_ingest, ehr_gateway;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA ingest, gateway FROM ehr_ingest, ehr_gateway;
REVOKE ALL ON SCHEMA ingest, analytics, gateway FROM ehr_ingest, ehr_gateway;
GRANT CREATE ON SCHEMA public TO PUBLIC;
