-- The people who sign in to the console (docs/API.md "Identity"): one row each, added and
-- removed by `command-api user add|remove`. Their sessions live in Redis; what is here is who
-- they are, what they may do and the argon2id hash of their password (PHC string format, its
-- parameters inside it, so stronger ones later leave older hashes verifiable).
CREATE TABLE people (
    -- Lower-cased and trimmed by the one function that normalizes it (catalog_support::people).
    email         text        PRIMARY KEY CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$'),
    role          text        NOT NULL CHECK (role IN ('editor', 'auditor', 'admin')),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    changed_at    timestamptz NOT NULL DEFAULT now()
);
