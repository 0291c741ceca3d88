-- Group commit: command-api writes the appends of concurrent commands (their events and the
-- snapshots due) in one statement and one transaction, so one WAL flush and one round trip
-- serve them all (store/src/append.rs). Each command keeps its own outcome: one that lost its
-- race to another writer is left out and decided again by its caller, without failing the
-- commands beside it.
--
-- A command's first event decides whether the command is stored: it is inserted with
-- ON CONFLICT DO NOTHING, and only the commands whose first event went in have the rest of
-- their events inserted after it. Sequences are dense per aggregate (every writer appends
-- after the last sequence it read), so nobody else can hold a later sequence of an aggregate
-- whose next one this transaction took: the rest cannot conflict, and a command is stored
-- whole or not at all. A writer that breaks that rule by hand fails the whole statement, and
-- the caller then writes each command alone to give each its own answer.
--
-- The rows arrive as parallel arrays, one element per event in sequence order within each
-- command; `commands` numbers the command each event belongs to. Event ids are supplied, so
-- the first events stored can be matched to their commands. Returns the commands stored.
CREATE FUNCTION catalog_append_group(
    commands int[], aggregate_types text[], aggregate_ids text[], sequences bigint[],
    event_types text[], event_versions text[], payloads jsonb[], metadata jsonb[],
    event_ids uuid[], firsts boolean[],
    -- The snapshots due: one per command that takes one, written only if it is stored.
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

    RETURN stored;
END
$$;
