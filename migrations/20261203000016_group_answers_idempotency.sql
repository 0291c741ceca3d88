-- A command's idempotency record is answered by the transaction that stores the command's
-- events (store/src/append.rs), instead of by a statement and a transaction of its own after
-- the command's answer: one round trip fewer per command, and no window in which the events
-- are stored and their record still looks unanswered.
--
-- The group marks the record answered (completed_at set) and leaves status_code NULL: such a
-- record is answered by its event. A retry of the request rebuilds the answer from the event
-- that carries its key (command-api's idempotency layer), and stores that answer in the
-- record for the retries after it. A record with neither is a request still running (or
-- one whose process died, which the idempotency layer takes over once abandoned).
--
-- The function's signature is unchanged, so this replaces it in place; the records to answer
-- are read from the stored commands' first events (their metadata's actor and
-- idempotency_key), which every keyed command carries.
CREATE OR REPLACE FUNCTION catalog_append_group(
    commands int[], aggregate_types text[], aggregate_ids text[], sequences bigint[],
    event_types text[], event_versions text[], payloads jsonb[], metadata jsonb[],
    event_ids uuid[], firsts boolean[],
    snapshot_commands int[], snapshot_sequences bigint[], snapshot_counters bigint[],
    snapshot_payloads jsonb[]
) RETURNS int[]
LANGUAGE plpgsql AS $$
DECLARE
    stored int[];
BEGIN
    WITH inserted AS (
        INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                            payload, metadata, event_id)
        SELECT t, id, seq, ty, ver, p, m, eid
          FROM unnest(aggregate_types, aggregate_ids, sequences, event_types, event_versions,
                      payloads, metadata, event_ids, firsts)
               WITH ORDINALITY AS e(t, id, seq, ty, ver, p, m, eid, first, n)
         WHERE first
         -- In key order, so two groups waiting on each other's products queue instead of
         -- deadlocking.
         ORDER BY t, id
        ON CONFLICT (aggregate_type, aggregate_id, sequence) DO NOTHING
        RETURNING event_id)
    SELECT array_agg(e.command) INTO stored
      FROM inserted
      JOIN unnest(event_ids, commands) AS e(eid, command) ON e.eid = inserted.event_id;

    IF stored IS NULL THEN
        RETURN '{}';
    END IF;

    -- Inserted in sequence order after the first: the hash chain's trigger reads each
    -- event's predecessor.
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                        payload, metadata, event_id)
    SELECT t, id, seq, ty, ver, p, m, eid
      FROM unnest(aggregate_types, aggregate_ids, sequences, event_types, event_versions,
                  payloads, metadata, event_ids, firsts, commands)
           WITH ORDINALITY AS e(t, id, seq, ty, ver, p, m, eid, first, command, n)
     WHERE NOT first AND command = ANY (stored)
     ORDER BY n;

    -- A snapshot never moves backwards.
    INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
    SELECT aggregate_types[i], aggregate_ids[i], s.last_sequence, s.counter, s.payload
      FROM unnest(snapshot_commands, snapshot_sequences, snapshot_counters, snapshot_payloads)
           AS s(command, last_sequence, counter, payload)
      -- The aggregate is the one of the command's first event.
      CROSS JOIN LATERAL (SELECT array_position(commands, s.command) AS i) AS first_event
     WHERE s.command = ANY (stored)
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET
        last_sequence = EXCLUDED.last_sequence,
        current_snapshot = EXCLUDED.current_snapshot,
        payload = EXCLUDED.payload
    WHERE snapshots.last_sequence < EXCLUDED.last_sequence;

    -- The stored commands' idempotency records, answered by their events. One already
    -- answered (a response stored) is left as it is.
    UPDATE idempotency_keys k SET completed_at = now()
      FROM unnest(metadata, firsts, commands) AS e(m, first, command)
     WHERE e.first AND e.command = ANY (stored) AND e.m ? 'idempotency_key'
       AND k.actor = e.m->>'actor' AND k.key = e.m->>'idempotency_key'
       AND k.status_code IS NULL;

    RETURN stored;
END
$$;
