-- A patient's readings are found through her devices: the unique key of
-- each day's readings, (device_id, device_seq, measured_at), is the read
-- index too, and the index by (patient, category, measured_at) — ≈ 132
-- bytes of every stored reading, the largest after the row itself
-- (docs/BENCHMARKS.md, "Bytes per stored reading") — goes.
--
-- Each (patient, device) pair any stored reading has, written with the
-- reading (ingest's write, in its transaction). A device is bound to one
-- patient for ever (ids are never reused), so a device has one pair; kept
-- as pairs, no reading is ever missed even if a database held two.
CREATE TABLE ingest.patient_devices (
    patient    text NOT NULL,
    device_id  text NOT NULL,
    PRIMARY KEY (patient, device_id)
);
-- Reads every stored reading once (at the rate PostgreSQL scans a table:
-- minutes per hundred million), with no reading written meanwhile: one
-- written by an ingest of before after this read would have no pair.
LOCK TABLE ingest.records IN SHARE MODE;
INSERT INTO ingest.patient_devices (patient, device_id)
    SELECT DISTINCT patient, device_id FROM ingest.records;

-- The devices whose readings a query for `patient` looks among: every query
-- of a patient's readings says `device_id = ANY((SELECT ingest.devices_of($1))::text[])
-- AND patient = $1` — the function in a subquery of its own, so that it runs
-- once per query, not per row; the second condition so that a reading is
-- hers by its own column too.
CREATE FUNCTION ingest.devices_of(patient text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(d.device_id), '{}') FROM ingest.patient_devices d
    WHERE d.patient = devices_of.patient
$$;
REVOKE ALL ON FUNCTION ingest.devices_of(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.devices_of(text) TO ehr_ingest, ehr_gateway;

GRANT SELECT, INSERT ON ingest.patient_devices TO ehr_ingest;
GRANT SELECT ON ingest.patient_devices TO ehr_gateway;

-- Every day's partition's index of it goes with it.
DROP INDEX ingest.records_by_patient;
