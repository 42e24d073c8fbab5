-- A closed day's rows no longer store their batch and their leaf's index in
-- it where both follow from the record number (docs/design/compact-readings.md):
-- a batch holds the records numbered first_record..last_record, leaf i being
-- record first_record + i (ingest numbers a batch's records so, under one
-- lock, and no two batches' numbers overlap; checked below). Left out, a
-- closed row is 216 bytes (37 to a page) instead of 232 (34): 19.6 bytes a
-- reading fewer on every closed day. Readers take the stored values where a
-- row has them (every open day's row, a closed row that differs) and
-- `ingest.batch_of(record_seq)` otherwise; what a reader proves is unchanged
-- (the leaf's path is checked against the batch's root anchored on chain,
-- and a wrong batch or index gives a path that does not verify).
-- The batches held against writes while they are checked and indexed
-- (ingest waits); the readings only at the end, for their columns.
LOCK TABLE ingest.batches IN SHARE MODE;

DO $$
DECLARE
    clash record;
BEGIN
    SELECT batch_id, previous INTO clash
      FROM (SELECT batch_id, first_record,
                   lag(last_record) OVER (ORDER BY first_record, batch_id) AS last_before,
                   lag(batch_id) OVER (ORDER BY first_record, batch_id) AS previous
            FROM ingest.batches) x
     WHERE first_record <= last_before LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'batches % and % number some of the same records: a record''s batch cannot follow from its number',
                        clash.previous, clash.batch_id USING ERRCODE = '23P01';
    END IF;
END
$$;

-- A batch numbers one record at least, first_record … first_record +
-- record_count - 1 (the chain anchors no empty batch): with no empty or
-- reversed range, the one probe below and ingest.batch_of see every batch.
ALTER TABLE ingest.batches ADD CONSTRAINT batches_number_their_records
    CHECK (record_count > 0 AND last_record = first_record + record_count - 1);

CREATE INDEX batches_by_first_record ON ingest.batches (first_record);

-- And none will: a batch numbering a record another batch numbers is
-- refused. Ingest never writes one (it takes a batch's numbers under one
-- lock); this catches any other writer. One probe of the index above: with
-- no two batches overlapping, only the last one starting at or before the
-- new batch's end can. (An exclusion constraint would also see two writers
-- racing, but its GiST index took 132 s to build over 3 M batches here,
-- 81 bytes a batch, and answered a number's batch in 27 µs against 5.)
CREATE FUNCTION ingest.refuse_overlapping_batch() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    other bigint;
BEGIN
    SELECT b.batch_id INTO other
      FROM (SELECT batch_id, last_record FROM ingest.batches
            WHERE first_record <= NEW.last_record AND batch_id <> NEW.batch_id
            ORDER BY first_record DESC LIMIT 1) b
     WHERE b.last_record >= NEW.first_record;
    IF FOUND THEN
        RAISE EXCEPTION 'batch % numbers records % to %, some of which batch % numbers: no two batches may number the same record',
                        NEW.batch_id, NEW.first_record, NEW.last_record, other USING ERRCODE = '23P01';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER refuse_overlapping_batch BEFORE INSERT OR UPDATE OF first_record, last_record ON ingest.batches
    FOR EACH ROW EXECUTE FUNCTION ingest.refuse_overlapping_batch();

-- The batch holding record `seq`, by its number; NULL when none does.
-- Called for each closed row a reader reads, so without a SET clause (each
-- call would save and restore the setting): its tables are named with
-- their schema, and the services that call it may create nothing in the
-- schemas they search (PostgreSQL 15 grants no CREATE on public).
CREATE FUNCTION ingest.batch_of(seq bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT b.batch_id
    FROM (SELECT batch_id, last_record FROM ingest.batches WHERE first_record <= seq
          ORDER BY first_record DESC LIMIT 1) b
    WHERE seq <= b.last_record
$$;
REVOKE ALL ON FUNCTION ingest.batch_of(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.batch_of(bigint) TO ehr_ingest, ehr_gateway;

LOCK TABLE ingest.records IN ACCESS EXCLUSIVE MODE;

-- Rarely set from now on: a closed row stores them only where they differ
-- from what its number says. An open day's rows always have them (ingest
-- writes them, and each open day's foreign key names the batch).
ALTER TABLE ingest.records ALTER COLUMN batch_id DROP NOT NULL, ALTER COLUMN leaf_index DROP NOT NULL;

-- Migration 021's writing of a closed day, the batch and leaf index of each
-- row left out where they follow from its number: the nullable columns are
-- added after the rows (read as NULL), and the rows for which one is set,
-- or differs from its number's, are written after, whole.
CREATE OR REPLACE FUNCTION ingest.write_closed_day(source text, target text, layout text DEFAULT 'records')
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept text;
    kept_read text;
    kept_columns text;
    rare text;
    rare_read text;
    rare_columns text;
    rare_unset text;
    hashed boolean := EXISTS (SELECT 1 FROM pg_attribute a
                              WHERE a.attrelid = format('ingest.%I', layout)::regclass
                                AND a.attname = 'content_hash' AND NOT a.attisdropped);
    -- Each row with the batch its number falls in, if it is the row's own.
    located text := format('ingest.%I r LEFT JOIN ingest.batches b ON b.batch_id = r.batch_id
                              AND r.record_seq BETWEEN b.first_record AND b.last_record', source);
    written bigint;
    more bigint;
BEGIN
    -- Kept in every row: the columns that may not be null (but the hash) and
    -- the ciphertext, in the order that needs no padding. Each declared as
    -- the layout declares it (type, collation, NOT NULL), so that the table
    -- can take a day's place.
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.rank, a.attnum),
           string_agg('r.' || quote_ident(a.attname), ', ' ORDER BY k.rank, a.attnum),
           string_agg(d.declared, ', ' ORDER BY k.rank, a.attnum)
      INTO kept, kept_read, kept_columns
      FROM pg_attribute a,
           LATERAL (SELECT CASE WHEN a.attlen = 8 THEN 1
                                WHEN a.attlen = 4 THEN 2
                                WHEN a.attname = 'ciphertext' THEN 3
                                WHEN a.attlen > 0 THEN 4
                                ELSE 5 END AS rank) k,
           LATERAL ingest.column_declared(a.attrelid, a.attnum) d(declared)
      WHERE a.attrelid = format('ingest.%I', layout)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        AND a.attname <> 'content_hash' AND (a.attnotnull OR a.attname = 'ciphertext');
    -- Added after the rows: the columns rarely set. The batch and the leaf
    -- index count as unset where they are what the row's number says.
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg('r.' || quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg('ADD COLUMN ' || d.declared, ', ' ORDER BY a.attnum),
           string_agg(CASE a.attname
                        WHEN 'batch_id' THEN 'r.batch_id IS NOT DISTINCT FROM b.batch_id'
                        WHEN 'leaf_index' THEN 'r.leaf_index IS NOT DISTINCT FROM r.record_seq - b.first_record'
                        ELSE format('r.%I IS NULL', a.attname) END, ' AND ' ORDER BY a.attnum)
      INTO rare, rare_read, rare_columns, rare_unset
      FROM pg_attribute a,
           LATERAL ingest.column_declared(a.attrelid, a.attnum) d(declared)
      WHERE a.attrelid = format('ingest.%I', layout)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        AND NOT a.attnotnull AND a.attname NOT IN ('ciphertext', 'content_hash');
    EXECUTE format('CREATE TABLE ingest.%I (%s)', target, kept_columns);
    EXECUTE format('INSERT INTO ingest.%I (%s) SELECT %s FROM %s WHERE %s ORDER BY r.pair_no, r.record_seq',
                   target, kept, kept_read, located, coalesce(rare_unset, 'true'));
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
        EXECUTE format('INSERT INTO ingest.%I (%s, %s%s) SELECT %s, %s%s FROM %s
                          WHERE NOT (%s) ORDER BY r.pair_no, r.record_seq',
                       target, kept, rare, CASE WHEN hashed THEN ', content_hash' ELSE '' END,
                       kept_read, rare_read, CASE WHEN hashed THEN ', ''''::bytea' ELSE '' END, located, rare_unset);
        GET DIAGNOSTICS more = ROW_COUNT;
        written := written + more;
    END IF;
    RETURN written;
END
$$;
REVOKE ALL ON FUNCTION ingest.write_closed_day(text, text, text) FROM PUBLIC;

-- The view for people and tools, each row's batch and leaf index whether
-- stored or followed from its number.
CREATE OR REPLACE VIEW ingest.stored_records AS
SELECT r.record_seq, ingest.record_id(d.device_id, r.device_seq) AS record_id, d.device_id,
       r.device_seq, d.patient, r.category, r.loinc, r.measured_at, r.ciphertext,
       coalesce(r.ciphertext_sha256,
                ingest.tree_leaf(t.tree, t.block_bits, b.record_count,
                                 coalesce(r.leaf_index, (r.record_seq - b.first_record)::integer)))
         AS ciphertext_sha256,
       r.content_hash, b.batch_id, coalesce(r.leaf_index, (r.record_seq - b.first_record)::integer) AS leaf_index,
       k.key_id, r.erasure_id, b.created_at AS stored_at, r.pair_no, r.key_no
FROM ingest.records r
JOIN ingest.patient_devices d ON d.pair_no = r.pair_no
JOIN ingest.data_keys k ON k.key_no = r.key_no
JOIN ingest.batches b ON b.batch_id = coalesce(r.batch_id, ingest.batch_of(r.record_seq))
LEFT JOIN ingest.batch_trees t ON t.batch_id = b.batch_id;
