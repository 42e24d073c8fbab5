-- Back to one row per analysts' reading with its pseudonym, code and unit
-- spelled out.
LOCK TABLE analytics.values IN ACCESS EXCLUSIVE MODE;
DROP VIEW analytics.readings;
CREATE TABLE analytics.readings (
    pseudonym  text NOT NULL,
    loinc      text NOT NULL,
    value      double precision NOT NULL,
    unit       text NOT NULL,
    hour       timestamptz NOT NULL
);
INSERT INTO analytics.readings (pseudonym, loinc, value, unit, hour)
    SELECT p.pseudonym, c.loinc, v.value, c.unit, v.hour
    FROM analytics.values v
    JOIN analytics.pseudonyms p ON p.pseudonym_no = v.pseudonym_no
    JOIN analytics.codes c ON c.code_no = v.code_no
    ORDER BY v.hour;
DO $$
BEGIN
    IF (SELECT count(*) FROM analytics.readings) <> (SELECT count(*) FROM analytics.values) THEN
        RAISE EXCEPTION 'analytics.values holds readings whose pseudonym or code is not numbered: migration 019 cannot be reverted without losing them'
            USING ERRCODE = '23503';
    END IF;
END
$$;
DROP TABLE analytics.values, analytics.pseudonyms, analytics.codes;
CREATE INDEX readings_by_code ON analytics.readings (loinc, hour);
CREATE INDEX readings_by_pseudonym ON analytics.readings (pseudonym);
GRANT SELECT ON analytics.readings TO ehr_analyst;
GRANT INSERT, DELETE ON analytics.readings TO ehr_ingest;
GRANT SELECT (pseudonym, loinc, hour) ON analytics.readings TO ehr_ingest;
