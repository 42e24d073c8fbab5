-- Clinical documents (lab orders, prescriptions): written by a party with
-- write access, encrypted on the author's machine; the chain anchors each one's
-- ciphertext hash with the order or prescription it belongs to. The gateway
-- keeps ciphertext and wrapped keys only.
CREATE TABLE gateway.documents (
    seq                bigserial PRIMARY KEY,
    record_id          text NOT NULL UNIQUE,
    patient            text NOT NULL,
    category           smallint NOT NULL,
    author             text NOT NULL,
    ciphertext         bytea NOT NULL,
    ciphertext_sha256  bytea NOT NULL,
    stored_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_by_patient ON gateway.documents (patient, category, seq);

CREATE TABLE gateway.document_keys (
    record_id    text NOT NULL REFERENCES gateway.documents (record_id),
    reader       text NOT NULL,
    wrapped_key  bytea NOT NULL,
    PRIMARY KEY (record_id, reader)
);
