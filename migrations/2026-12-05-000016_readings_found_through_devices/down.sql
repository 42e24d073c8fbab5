-- The history partition's index under the name migration 015 gave it (its
-- own down.sql renames it back), then every other day's.
CREATE INDEX records_history_by_patient ON ingest.records_history (patient, category, measured_at);
CREATE INDEX records_by_patient ON ingest.records (patient, category, measured_at);
DROP FUNCTION ingest.devices_of(text);
DROP TABLE ingest.patient_devices;
