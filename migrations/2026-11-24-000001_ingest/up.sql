-- The ingest service's tables. PostgreSQL holds only ciphertext, hashes, ids
-- and wrapped keys here; plaintext never leaves the service.
CREATE SCHEMA ingest;

-- Counters allocate contiguous ranges inside a batch's transaction.
CREATE TABLE ingest.counters (
    name text PRIMARY KEY,
    next bigint NOT NULL
);
INSERT INTO ingest.counters (name, next) VALUES ('record_seq', 1), ('batch_id', 1);

CREATE TABLE ingest.batches (
    batch_id      bigint PRIMARY KEY,
    merkle_root   bytea NOT NULL,
    record_count  integer NOT NULL,
    first_record  bigint NOT NULL,
    last_record   bigint NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'committed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    anchor_tx     text,
    height        bigint,
    committed_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX batches_pending ON ingest.batches (batch_id) WHERE status = 'pending';

CREATE TABLE ingest.records (
    record_seq         bigint PRIMARY KEY,
    record_id          text NOT NULL UNIQUE,
    device_id          text NOT NULL,
    device_seq         bigint NOT NULL,
    -- SHA-256 of the signed reading: the same reading sent again is recognised.
    content_sha256     bytea NOT NULL,
    patient            text NOT NULL,
    category           smallint NOT NULL,
    loinc              text NOT NULL,
    measured_at        timestamptz NOT NULL,
    ciphertext         bytea NOT NULL,
    ciphertext_sha256  bytea NOT NULL,
    batch_id           bigint NOT NULL REFERENCES ingest.batches (batch_id),
    leaf_index         integer NOT NULL,
    stored_at          timestamptz NOT NULL DEFAULT now(),
    -- The idempotency key: a device's sequence number is stored once.
    UNIQUE (device_id, device_seq)
);
CREATE INDEX records_by_patient ON ingest.records (patient, category, measured_at);
CREATE INDEX records_by_batch ON ingest.records (batch_id, leaf_index);

CREATE TABLE ingest.wrapped_keys (
    record_id          text NOT NULL REFERENCES ingest.records (record_id),
    reader             text NOT NULL,
    reader_public_key  bytea NOT NULL,
    wrapped_key        bytea NOT NULL,
    wrapped_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, reader)
);

-- Refused messages: the reason, never the payload (it may hold health data).
CREATE TABLE ingest.rejects (
    id               bigserial PRIMARY KEY,
    received_at      timestamptz NOT NULL DEFAULT now(),
    reason           text NOT NULL,
    detail           text NOT NULL,
    device_id        text,
    device_seq       bigint,
    topic            text NOT NULL,
    kafka_partition  integer NOT NULL,
    kafka_offset     bigint NOT NULL,
    payload_sha256   bytea NOT NULL,
    payload_size     integer NOT NULL,
    UNIQUE (topic, kafka_partition, kafka_offset)
);

-- De-identified readings of research-consented patients, for analysts.
CREATE SCHEMA analytics;
CREATE TABLE analytics.readings (
    pseudonym  text NOT NULL,
    loinc      text NOT NULL,
    value      double precision NOT NULL,
    unit       text NOT NULL,
    hour       timestamptz NOT NULL
);
CREATE INDEX readings_by_code ON analytics.readings (loinc, hour);

-- Analysts: the analytics schema and nothing else. Roles are cluster-wide, so
-- the role is created once; log-in users are made members of it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ehr_analyst') THEN
        CREATE ROLE ehr_analyst NOLOGIN;
    END IF;
END
$$;
REVOKE ALL ON SCHEMA ingest FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA ingest FROM PUBLIC;
GRANT USAGE ON SCHEMA analytics TO ehr_analyst;
GRANT SELECT ON analytics.readings TO ehr_analyst;
