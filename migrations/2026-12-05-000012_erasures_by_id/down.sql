CREATE TABLE gateway.followed_height (
    service text PRIMARY KEY,
    height  bigint NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON gateway.followed_height TO ehr_gateway;
DROP TABLE gateway.followed_erasure;
DROP TABLE ingest.followed_erasure;
