REVOKE SELECT (pseudonym), DELETE ON analytics.readings FROM ehr_ingest;
DROP INDEX analytics.readings_by_pseudonym;
DROP TABLE ingest.followed_height;
