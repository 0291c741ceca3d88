-- Idempotency records: the first response to a mutation sent with an Idempotency-Key, replayed
-- to retries of the same request. Keys are scoped per actor, so two clients cannot collide.
CREATE TABLE idempotency_keys (
    actor           text        NOT NULL,
    key             text        NOT NULL,
    -- SHA-256 of method, path and body: the same key with another request is refused.
    request_hash    bytea       NOT NULL,
    -- NULL while the first request is still running.
    status_code     smallint,
    response_headers jsonb,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (actor, key)
);

-- Expired keys are purged in batches by age.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
