-- The PostgreSQL read model, written only by the projector and rebuilt from the event store
-- at will. One row per product, shaped for the list and search queries of the HTTP contract.
CREATE TABLE product_view (
    id             text        PRIMARY KEY,
    sku            text        NOT NULL,
    name           text        NOT NULL,
    description    text,
    category       text,
    status         text        NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    price_amount   bigint      NOT NULL,
    price_currency text        NOT NULL,
    stock          bigint      NOT NULL,
    -- The sequence of the last event applied: the projector's idempotency check, updated in
    -- the same transaction as the row.
    version        bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    -- The aggregate's state after `version`, so the next event is applied by the domain's own
    -- `apply` rather than by SQL that could drift from it.
    state          jsonb       NOT NULL,
    -- The ProductView document, served as it is.
    doc            jsonb       NOT NULL,
    -- 'simple' keeps SKUs and names whole (no stemming, no stop words), which suits product
    -- codes and brand names better than a language dictionary.
    search         tsvector    GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', sku), 'A') ||
        setweight(to_tsvector('simple', name), 'B') ||
        setweight(to_tsvector('simple', coalesce(description, '')), 'C')
    ) STORED
);

-- Each documented sort, with `id` as the tie-breaker that keyset pagination needs, led by the
-- status every list filters on.
CREATE INDEX product_view_updated_idx  ON product_view (status, updated_at DESC, id DESC);
CREATE INDEX product_view_name_idx     ON product_view (status, name, id);
CREATE INDEX product_view_price_idx    ON product_view (status, price_currency, price_amount, id);
CREATE INDEX product_view_category_idx ON product_view (category, status, updated_at DESC, id DESC);
CREATE INDEX product_view_search_idx   ON product_view USING gin (search);

-- Image rows of the read model, for queries over images (e.g. everything still processing).
CREATE TABLE product_image_view (
    product_id text    NOT NULL REFERENCES product_view (id) ON DELETE CASCADE,
    image_id   text    NOT NULL,
    ordinal    integer NOT NULL,
    status     text    NOT NULL CHECK (status IN ('processing', 'ready', 'failed')),
    failure    text,
    width      integer,
    height     integer,
    blurhash   text,
    renditions jsonb   NOT NULL DEFAULT '{}',
    PRIMARY KEY (product_id, image_id)
);

CREATE INDEX product_image_view_status_idx ON product_image_view (status) WHERE status = 'processing';
