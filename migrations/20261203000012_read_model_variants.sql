-- Read-model generation 3 (Catalog 2, part 2): documents with `variants` (each with its SKU,
-- attributes, price list and stock, the master first), found by any variant's SKU
-- (`GET /products?sku=`) through an index over the document's SKUs, and `q` matching any
-- variant's SKU. The columns are generations 1 and 2's, in their order, so the live views can
-- be pointed at any of them; `sku`, `price_amount` and `price_currency` are the master's
-- (its base price: what list filters and sorting use).
CREATE SCHEMA read_model_3;

CREATE TABLE read_model_3.product_view (
    id             text        PRIMARY KEY,
    sku            text        NOT NULL,
    name           text        NOT NULL,
    description    text,
    category       text,
    status         text        NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    price_amount   bigint      NOT NULL,
    price_currency text        NOT NULL,
    stock          bigint      NOT NULL,
    version        bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    state          jsonb       NOT NULL,
    doc            jsonb       NOT NULL,
    search         tsvector    GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', sku), 'A') ||
        setweight(jsonb_to_tsvector('simple', jsonb_path_query_array(doc, '$.variants[*].sku'), '["string"]'), 'A') ||
        setweight(to_tsvector('simple', name), 'B') ||
        setweight(jsonb_to_tsvector('simple', coalesce(doc->'translations'->'name', '{}'), '["string"]'), 'B') ||
        setweight(to_tsvector('simple', coalesce(description, '')), 'C') ||
        setweight(jsonb_to_tsvector('simple', coalesce(doc->'translations'->'description', '{}'), '["string"]'), 'C')
    ) STORED
);

CREATE INDEX product_view_updated_idx  ON read_model_3.product_view (status, updated_at DESC, id DESC);
CREATE INDEX product_view_name_idx     ON read_model_3.product_view (status, name, id);
CREATE INDEX product_view_price_idx    ON read_model_3.product_view (status, price_amount, id);
CREATE INDEX product_view_category_idx ON read_model_3.product_view (category, status, updated_at DESC, id DESC);
CREATE INDEX product_view_search_idx   ON read_model_3.product_view USING gin (search);
CREATE INDEX product_view_live_updated_idx ON read_model_3.product_view (updated_at DESC, id DESC)
    WHERE status <> 'archived';
CREATE INDEX product_view_live_name_idx ON read_model_3.product_view (name, id)
    WHERE status <> 'archived';
CREATE INDEX product_view_live_price_idx ON read_model_3.product_view (price_amount, id)
    WHERE status <> 'archived';
-- `?sku=`: every variant's SKU (the expression `listing` filters on, verbatim), and the
-- master's, which documents of earlier generations hold only there.
CREATE INDEX product_view_skus_idx ON read_model_3.product_view
    USING gin (jsonb_path_query_array(doc, '$.variants[*].sku'));
CREATE INDEX product_view_sku_idx ON read_model_3.product_view (sku);

CREATE TABLE read_model_3.product_image_view (
    product_id text    NOT NULL REFERENCES read_model_3.product_view (id) ON DELETE CASCADE,
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

CREATE INDEX product_image_view_status_idx ON read_model_3.product_image_view (status)
    WHERE status = 'processing';

-- A generation 2 still building was never read and never will be: this release builds
-- generation 3 instead, and leaves generation 2's empty tables to `projector retire`.
UPDATE read_model_generations SET state = 'retiring', changed_at = now()
    WHERE generation = 2 AND state = 'building';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM events WHERE aggregate_type = 'Product') THEN
        INSERT INTO read_model_generations (generation, state) VALUES (3, 'building');
    ELSE
        UPDATE read_model_generations SET state = 'retiring', changed_at = now()
            WHERE state = 'live';
        INSERT INTO read_model_generations (generation, state, built_through) VALUES (3, 'live', 0);
        CREATE OR REPLACE VIEW read_model.product_view AS SELECT * FROM read_model_3.product_view;
        CREATE OR REPLACE VIEW read_model.product_image_view AS
            SELECT * FROM read_model_3.product_image_view;
    END IF;
END
$$;
