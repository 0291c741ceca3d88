-- The event store: postgres-es's `events` and `snapshots` tables, extended for the outbox relay
-- and for audits. postgres-es inserts only the first seven columns of `events`; every column
-- added here has a default so that its INSERT keeps working unchanged.

CREATE TABLE events (
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    -- Per-aggregate version, 1-based. The primary key makes two writers of the same version
    -- collide, which is postgres-es's optimistic lock.
    sequence       bigint NOT NULL CHECK (sequence > 0),
    event_type     text   NOT NULL,
    event_version  text   NOT NULL,
    -- jsonb rather than postgres-es's json: normalised, comparable and indexable.
    payload        jsonb  NOT NULL,
    -- actor, request_id, correlation_id, causation_id (all strings).
    metadata       jsonb  NOT NULL,

    -- Global order of insertion. Positions are handed out when a row is inserted, not when its
    -- transaction commits, so a reader of "everything after position p" can miss a row whose
    -- transaction commits late. `transaction_id` lets the relay hold back until every
    -- transaction that could still add a lower position has finished (pg_snapshot_xmin).
    position       bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    -- Stable identity of the event on the wire (AMQP message id) and in audits.
    event_id       uuid        NOT NULL DEFAULT gen_random_uuid(),
    -- clock_timestamp(), not now(): now() is the transaction's start, which can be long before
    -- the event exists if the transaction waited on a lock.
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),

    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_position_idx ON events (position);
CREATE UNIQUE INDEX events_event_id_idx ON events (event_id);

COMMENT ON TABLE events IS
    'Append-only event store and transactional outbox: rows are never updated or deleted.';

-- Snapshots let a product with thousands of events load from its last snapshot plus the events
-- after it. Written by postgres-es in the same transaction as the events.
CREATE TABLE snapshots (
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- postgres-es looks snapshots up by aggregate alone; the primary key includes last_sequence,
-- so a second unique index keeps exactly one snapshot per aggregate.
CREATE UNIQUE INDEX snapshots_aggregate_idx ON snapshots (aggregate_type, aggregate_id);
