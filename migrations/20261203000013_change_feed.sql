-- The change feed (store/src/feed.rs) reads events in position order and proves each page
-- final by the start of the oldest transaction holding a transaction id. That needs every
-- writer to take its transaction id before it takes a position. An INSERT evaluates the
-- `position` identity before the `transaction_id` default (column order), so a transaction
-- whose first write is into `events` would, for a moment, hold a position and no id. A
-- statement-level BEFORE trigger runs before any row of the statement is formed.
CREATE FUNCTION events_take_transaction_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN NULL;
END
$$;

CREATE TRIGGER events_take_transaction_id
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_take_transaction_id();

-- `GET /events?types=…`: each type's next events by position, however deep the cursor.
CREATE INDEX events_type_position_idx ON events (event_type, position);

-- Webhook subscriptions (`PUT /subscriptions/{name}`) and where the dispatcher has delivered
-- each up to. A subscription's checkpoint moves only when its receiver acknowledged a batch.
CREATE TABLE webhook_subscriptions (
    name               text        PRIMARY KEY,
    url                text        NOT NULL,
    -- The HMAC key of `Catalog-Signature`; never returned by the API.
    secret             text        NOT NULL,
    -- Event types delivered; empty for all.
    types              text[]      NOT NULL DEFAULT '{}',
    -- The feed position every event up to which the receiver has acknowledged.
    delivered_position bigint      NOT NULL CHECK (delivered_position >= 0),
    status             text        NOT NULL DEFAULT 'active'
                                   CHECK (status IN ('active', 'retrying', 'paused')),
    -- Failed attempts since the last acknowledged batch, and since when they fail.
    failures           integer     NOT NULL DEFAULT 0,
    failing_since      timestamptz,
    last_error         text,
    -- When the dispatcher tries next (backoff).
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    -- The batch sent and not acknowledged: sent again as it was, with the same
    -- `Catalog-Delivery` id, until it is, so a receiver dedupes by the id.
    pending_delivery   uuid,
    pending_through    bigint,
    -- Bumped by every change through the API, so a dispatcher that read the row before
    -- the change does not record its outcome over it.
    revision           bigint      NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
