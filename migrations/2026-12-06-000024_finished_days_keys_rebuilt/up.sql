-- When a day's keys were rebuilt once the day was over (`ehr-db close-days`,
-- `ehr_migrations::rebuild_day_keys`): written a pair's run at a time, an
-- open day's two B-trees split their pages half full (65.9 bytes a reading
-- each, docs/BENCHMARKS.md); rebuilt, their pages are full but for the tenth
-- PostgreSQL leaves free, for the day's late readings.
ALTER TABLE ingest.record_days ADD COLUMN keys_rebuilt_at timestamptz;
