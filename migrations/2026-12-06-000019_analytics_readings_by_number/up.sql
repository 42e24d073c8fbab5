-- The analysts' readings keep their pseudonym and their code and unit by
-- number: a row is its hour, its value and two numbers (52 bytes, from
-- ≈ 100 with the pseudonym's 34 characters and the code and unit spelled
-- out in every row; docs/BENCHMARKS.md, "Bytes per stored reading").
-- Analysts read `analytics.readings` as before: a view with the same
-- columns, over the numbered rows.
LOCK TABLE analytics.readings IN ACCESS EXCLUSIVE MODE;

CREATE TABLE analytics.pseudonyms (
    pseudonym_no  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pseudonym     text NOT NULL UNIQUE
);
CREATE TABLE analytics.codes (
    code_no  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    loinc    text NOT NULL,
    unit     text NOT NULL,
    UNIQUE (loinc, unit)
);
-- Widest first: no byte of padding.
CREATE TABLE analytics.values (
    hour          timestamptz NOT NULL,
    value         double precision NOT NULL,
    pseudonym_no  integer NOT NULL,
    code_no       integer NOT NULL
);

INSERT INTO analytics.pseudonyms (pseudonym)
    SELECT pseudonym FROM analytics.readings GROUP BY pseudonym ORDER BY min(hour);
INSERT INTO analytics.codes (loinc, unit)
    SELECT loinc, unit FROM analytics.readings GROUP BY loinc, unit ORDER BY loinc, unit;
INSERT INTO analytics.values (hour, value, pseudonym_no, code_no)
    SELECT r.hour, r.value, p.pseudonym_no, c.code_no
    FROM analytics.readings r
    JOIN analytics.pseudonyms p ON p.pseudonym = r.pseudonym
    JOIN analytics.codes c ON c.loinc = r.loinc AND c.unit = r.unit
    ORDER BY r.hour;
DROP TABLE analytics.readings;

-- Analysts ask by code and time; a withdrawal or an erasure deletes by
-- pseudonym.
CREATE INDEX values_by_code ON analytics.values (code_no, hour);
CREATE INDEX values_by_pseudonym ON analytics.values (pseudonym_no);

CREATE VIEW analytics.readings AS
SELECT p.pseudonym, c.loinc, v.value, c.unit, v.hour
FROM analytics.values v
JOIN analytics.pseudonyms p ON p.pseudonym_no = v.pseudonym_no
JOIN analytics.codes c ON c.code_no = v.code_no;
GRANT SELECT ON analytics.readings TO ehr_analyst;

-- Ingest numbers a pseudonym or a code with its first reading, adds values,
-- and deletes those of a withdrawal or an erasure: it reads the columns
-- such a delete names, never a value.
GRANT SELECT, INSERT ON analytics.pseudonyms, analytics.codes TO ehr_ingest;
GRANT INSERT, DELETE ON analytics.values TO ehr_ingest;
GRANT SELECT (pseudonym_no, code_no, hour) ON analytics.values TO ehr_ingest;
