-- Bulk imports (command-api's POST /imports): the uploaded file lives in the blob store, the
-- job's state and progress here, so a job outlives the process that runs it. A worker holds a
-- job by a session advisory lock while it runs it (released when its connection goes, so a
-- killed process's job is taken up again at once); progress is saved after each chunk of lines
-- as the byte offset of the first line not yet done and the counts so far.
CREATE TABLE imports (
    import_id   uuid PRIMARY KEY,
    actor       text NOT NULL,
    dry_run     boolean NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    -- The uploaded file in the blob store, and its size and line count.
    blob_key    text NOT NULL,
    bytes       bigint NOT NULL,
    lines       bigint NOT NULL,
    -- Progress: lines taken (applied, unchanged or failed), where the next one starts.
    processed   bigint NOT NULL DEFAULT 0,
    next_offset bigint NOT NULL DEFAULT 0,
    created     bigint NOT NULL DEFAULT 0,
    updated     bigint NOT NULL DEFAULT 0,
    unchanged   bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    -- Why a job stopped as a whole (status 'failed'): its file could not be read, say.
    failure     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE INDEX imports_running ON imports (created_at) WHERE status = 'running';
CREATE INDEX imports_recent ON imports (created_at DESC);

-- The first errors of each job, one per failed line (GET /imports/{id} shows the first 1000).
CREATE TABLE import_errors (
    import_id uuid NOT NULL REFERENCES imports ON DELETE CASCADE,
    line      bigint NOT NULL,
    sku       text,
    type      text NOT NULL,
    detail    text NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- Which line of a job named each master SKU first: a later line naming it again is a
-- duplicate and fails alone. Kept here rather than in the worker's memory, so that a job's
-- memory does not grow with its file and a resumed job still knows the lines before.
CREATE TABLE import_skus (
    import_id uuid NOT NULL REFERENCES imports ON DELETE CASCADE,
    sku       text NOT NULL,
    line      bigint NOT NULL,
    PRIMARY KEY (import_id, sku)
);
