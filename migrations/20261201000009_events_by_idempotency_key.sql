-- Whether the command behind an idempotency key ran is read from the event store when its
-- request died before its answer was kept. Only events that carry a key are indexed.
CREATE INDEX events_idempotency_key_idx
    ON events ((metadata->>'actor'), (metadata->>'idempotency_key'))
    WHERE metadata ? 'idempotency_key';
