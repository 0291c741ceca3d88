-- An upload stores its original in the blob store before it appends ImageAttached. A request
-- that dies in between (a crash, a commit whose answer was lost) would leave that original
-- behind under an image id no event names. The intent is written before the blob and deleted
-- once the append has a definite answer; the image worker sweeps intents older than any request
-- can run and deletes their blobs when no event attached the image.
CREATE TABLE upload_intents (
    image_id   text        PRIMARY KEY,
    product_id text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX upload_intents_created_idx ON upload_intents (created_at);
