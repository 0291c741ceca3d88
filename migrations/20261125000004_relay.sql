-- The outbox relay tails `events` in (transaction_id, position) order, only below the oldest
-- transaction still running (pg_snapshot_xmin): every transaction below it has finished, so
-- that part of the table is final and a checkpoint inside it can never be passed by a late
-- commit. Ordering by position alone would not do: positions are handed out at insert, and a
-- transaction holding a lower position can commit after a higher one has been published.
CREATE INDEX events_relay_order_idx ON events (transaction_id, position);

-- Where each relay (one per namespace) has published up to, advanced only after the broker
-- confirmed every message up to it.
CREATE TABLE relay_checkpoints (
    name           text        PRIMARY KEY,
    transaction_id xid8        NOT NULL DEFAULT '0',
    position       bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Wakes the relay as soon as events commit (NOTIFY is delivered at commit, once per
-- statement); its poll interval is only the fallback.
CREATE FUNCTION notify_events_appended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('catalog_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_appended
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events_appended();
