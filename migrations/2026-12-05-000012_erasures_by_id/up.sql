-- The services follow the chain's erasures by their numbers (erasure/<n>,
-- each proven), not by the blocks' events: a node that hides an event, or a
-- service started after an erasure, still erases. Each keeps the last
-- erasure it carried out.
CREATE TABLE ingest.followed_erasure (
    service    text PRIMARY KEY,
    erasure_id bigint NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON ingest.followed_erasure TO ehr_ingest;
CREATE TABLE gateway.followed_erasure (
    service    text PRIMARY KEY,
    erasure_id bigint NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON gateway.followed_erasure TO ehr_gateway;
-- The gateway followed blocks only for erasures.
DROP TABLE gateway.followed_height;
