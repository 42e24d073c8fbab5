-- Back to every row storing its batch and its leaf's index (migration 021's
-- closed days). The closed rows that left them out get them by UPDATE: their
-- days' tables hold a dead copy of each such row until vacuumed.
-- The batches first, as ingest's writes take them (a write holding a batch
-- row waits for the readings; the other order would deadlock with it).
LOCK TABLE ingest.batches IN ACCESS EXCLUSIVE MODE;
LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;

CREATE OR REPLACE VIEW ingest.stored_records AS
SELECT r.record_seq, ingest.record_id(d.device_id, r.device_seq) AS record_id, d.device_id,
       r.device_seq, d.patient, r.category, r.loinc, r.measured_at, r.ciphertext,
       coalesce(r.ciphertext_sha256, ingest.tree_leaf(t.tree, t.block_bits, b.record_count, r.leaf_index))
         AS ciphertext_sha256,
       r.content_hash, r.batch_id, r.leaf_index, k.key_id,
       r.erasure_id, b.created_at AS stored_at, r.pair_no, r.key_no
FROM ingest.records r
JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
JOIN ingest.data_keys k ON k.key_no = r.key_no
JOIN ingest.batches b ON b.batch_id = r.batch_id
LEFT JOIN ingest.batch_trees t ON t.batch_id = r.batch_id;

UPDATE ingest.records r SET batch_id = b.batch_id, leaf_index = (r.record_seq - b.first_record)::integer
FROM ingest.batches b
WHERE r.batch_id IS NULL AND b.batch_id = ingest.batch_of(r.record_seq);

ALTER TABLE ingest.records ALTER COLUMN batch_id SET NOT NULL, ALTER COLUMN leaf_index SET NOT NULL;

-- Migration 021's writing of a closed day.
CREATE OR REPLACE FUNCTION ingest.write_closed_day(source text, target text, layout text DEFAULT 'records')
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept text;
    kept_columns text;
    rare text;
    rare_columns text;
    rare_unset text;
    hashed boolean := EXISTS (SELECT 1 FROM pg_attribute a
                              WHERE a.attrelid = format('ingest.%I', layout)::regclass
                                AND a.attname = 'content_hash' AND NOT a.attisdropped);
    written bigint;
    more bigint;
BEGIN
    -- Kept in every row: the columns that may not be null (but the hash) and
    -- the ciphertext, in the order that needs no padding. Each declared as
    -- the layout declares it (type, collation, NOT NULL), so that the table
    -- can take a day's place.
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.rank, a.attnum),
           string_agg(d.declared, ', ' ORDER BY k.rank, a.attnum)
      INTO kept, kept_columns
      FROM pg_attribute a,
           LATERAL (SELECT CASE WHEN a.attlen = 8 THEN 1
                                WHEN a.attlen = 4 THEN 2
                                WHEN a.attname = 'ciphertext' THEN 3
                                WHEN a.attlen > 0 THEN 4
                                ELSE 5 END AS rank) k,
           LATERAL ingest.column_declared(a.attrelid, a.attnum) d(declared)
      WHERE a.attrelid = format('ingest.%I', layout)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        AND a.attname <> 'content_hash' AND (a.attnotnull OR a.attname = 'ciphertext');
    -- Added after the rows: the columns rarely set.
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg('ADD COLUMN ' || d.declared, ', ' ORDER BY a.attnum),
           string_agg(format('%I IS NULL', a.attname), ' AND ' ORDER BY a.attnum)
      INTO rare, rare_columns, rare_unset
      FROM pg_attribute a,
           LATERAL ingest.column_declared(a.attrelid, a.attnum) d(declared)
      WHERE a.attrelid = format('ingest.%I', layout)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        AND NOT a.attnotnull AND a.attname NOT IN ('ciphertext', 'content_hash');
    EXECUTE format('CREATE TABLE ingest.%I (%s)', target, kept_columns);
    EXECUTE format('INSERT INTO ingest.%I (%s) SELECT %s FROM ingest.%I WHERE %s ORDER BY pair_no, record_seq',
                   target, kept, kept, source, coalesce(rare_unset, 'true'));
    GET DIAGNOSTICS written = ROW_COUNT;
    IF rare IS NOT NULL OR hashed THEN
        EXECUTE format('ALTER TABLE ingest.%I %s', target,
                       concat_ws(', ', rare_columns,
                                 CASE WHEN hashed THEN 'ADD COLUMN content_hash bytea NOT NULL DEFAULT ''''' END));
    END IF;
    IF hashed THEN
        EXECUTE format('ALTER TABLE ingest.%I ALTER COLUMN content_hash DROP DEFAULT', target);
    END IF;
    IF rare IS NOT NULL THEN
        EXECUTE format('INSERT INTO ingest.%I (%s, %s%s) SELECT %s, %s%s FROM ingest.%I
                          WHERE NOT (%s) ORDER BY pair_no, record_seq',
                       target, kept, rare, CASE WHEN hashed THEN ', content_hash' ELSE '' END,
                       kept, rare, CASE WHEN hashed THEN ', ''''::bytea' ELSE '' END, source, rare_unset);
        GET DIAGNOSTICS more = ROW_COUNT;
        written := written + more;
    END IF;
    RETURN written;
END
$$;
REVOKE ALL ON FUNCTION ingest.write_closed_day(text, text, text) FROM PUBLIC;

DROP FUNCTION ingest.batch_of(bigint);
DROP TRIGGER refuse_overlapping_batch ON ingest.batches;
DROP FUNCTION ingest.refuse_overlapping_batch();
DROP INDEX ingest.batches_by_first_record;
ALTER TABLE ingest.batches DROP CONSTRAINT batches_number_their_records;
