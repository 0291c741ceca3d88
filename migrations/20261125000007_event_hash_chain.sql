-- A tamper-evident event log. Every event stores a SHA-256 over its content and the hash of the
-- previous event of the same product, so altering, deleting or reordering a stored event breaks
-- the chain from that event on, and `projector verify` names it.
--
-- Computed here, by a trigger, rather than in the command path: every writer of `events` (the
-- command-api, the image worker, a hand-written INSERT) gets it, and PostgreSQL's own jsonb text
-- form is the canonical encoding, so the verifier recomputes exactly what was hashed.
--
-- The chain proves the log is internally consistent; someone able to rewrite every later hash
-- too can forge a consistent one. Anchoring chain heads outside the database (exporting them
-- periodically) closes that gap.

ALTER TABLE events ADD COLUMN hash bytea;

-- The hash of one event given the previous event's hash (NULL for the first event). Every field
-- is separated by a NUL byte, which no text field can contain.
CREATE FUNCTION catalog_event_hash(
    previous bytea, aggregate_type text, aggregate_id text, sequence bigint, event_type text,
    event_version text, payload jsonb, metadata jsonb, event_id uuid, recorded_at timestamptz
) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(
        coalesce(previous, '\x'::bytea) || '\x00'::bytea ||
        convert_to(
            aggregate_type || chr(1) || aggregate_id || chr(1) || sequence::text || chr(1) ||
            event_type || chr(1) || event_version || chr(1) || payload::text || chr(1) ||
            metadata::text || chr(1) || event_id::text || chr(1) ||
            to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
            'UTF8'))
$$;

CREATE FUNCTION events_chain_hash() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
BEGIN
    IF NEW.sequence > 1 THEN
        SELECT hash INTO previous FROM events
         WHERE aggregate_type = NEW.aggregate_type AND aggregate_id = NEW.aggregate_id
           AND sequence = NEW.sequence - 1;
    END IF;
    NEW.hash := catalog_event_hash(previous, NEW.aggregate_type, NEW.aggregate_id, NEW.sequence,
        NEW.event_type, NEW.event_version, NEW.payload, NEW.metadata, NEW.event_id, NEW.recorded_at);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_chain_hash
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_chain_hash();

-- Events stored before the chain existed get theirs now, product by product, in order.
DO $$
DECLARE
    e record;
    previous bytea;
    current_product text := NULL;
BEGIN
    FOR e IN SELECT * FROM events ORDER BY aggregate_type, aggregate_id, sequence LOOP
        IF current_product IS DISTINCT FROM e.aggregate_type || '/' || e.aggregate_id THEN
            previous := NULL;
            current_product := e.aggregate_type || '/' || e.aggregate_id;
        END IF;
        previous := catalog_event_hash(previous, e.aggregate_type, e.aggregate_id, e.sequence,
            e.event_type, e.event_version, e.payload, e.metadata, e.event_id, e.recorded_at);
        UPDATE events SET hash = previous
         WHERE aggregate_type = e.aggregate_type AND aggregate_id = e.aggregate_id
           AND sequence = e.sequence;
    END LOOP;
END
$$;

ALTER TABLE events ALTER COLUMN hash SET NOT NULL;
