-- The record gateway's tables, and what it needs from ingest's.

-- Which ingest service's anchor holds a batch's root on chain (its address):
-- a reader verifies a record's Merkle path against /batch/<service>/<batch_id>.
ALTER TABLE ingest.batches ADD COLUMN service text;

CREATE SCHEMA gateway;

-- Nonces of signed requests seen within the timestamp window: a captured
-- request cannot be replayed. Rows older than the window are pruned.
CREATE TABLE gateway.nonces (
    nonce    text PRIMARY KEY,
    caller   text NOT NULL,
    seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nonces_by_age ON gateway.nonces (seen_at);

-- The disclosure outbox: a disclosure is written here before the records are
-- returned, then logged on chain in batches. Nothing served goes unaudited.
CREATE TABLE gateway.disclosures (
    id            bigserial PRIMARY KEY,
    accessor      text NOT NULL,
    patient       text NOT NULL,
    category      smallint NOT NULL,
    purpose       smallint NOT NULL,
    record_ids    text[] NOT NULL,
    -- unix seconds, the gateway's clock when the records were served
    disclosed_at  bigint NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'committed')),
    tx_hash       text,
    sent_at       timestamptz,
    height        bigint,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX disclosures_open ON gateway.disclosures (id) WHERE status <> 'committed';

REVOKE ALL ON SCHEMA gateway FROM PUBLIC;
