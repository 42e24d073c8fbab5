-- A patient who withdraws research consent leaves the analysts' tables: ingest
-- follows the chain's blocks from the height it last followed (kept here, per
-- service) and deletes the rows of the patient's pseudonym when the chain
-- records the withdrawal. The index makes that delete cheap on a large table.
CREATE TABLE ingest.followed_height (
    service text PRIMARY KEY,
    height  bigint NOT NULL
);
CREATE INDEX readings_by_pseudonym ON analytics.readings (pseudonym);
GRANT SELECT, INSERT, UPDATE ON ingest.followed_height TO ehr_ingest;
-- A DELETE … WHERE pseudonym = … reads that column: only that one is granted.
GRANT SELECT (pseudonym), DELETE ON analytics.readings TO ehr_ingest;
