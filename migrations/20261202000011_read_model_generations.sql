-- Read-model generations (catalog_read_model::generation): the read models change shape
-- without downtime. Each generation's tables live in a schema of their own; query-api reads
-- the views of schema `read_model`, which point at the live generation's tables and are
-- repointed in one transaction when a newer generation, built beside, goes live.
CREATE TABLE read_model_generations (
    generation integer     PRIMARY KEY,
    state      text        NOT NULL
        CHECK (state IN ('building', 'built', 'live', 'retiring', 'retired')),
    changed_at timestamptz NOT NULL DEFAULT now(),
    -- The event position a built generation was replayed through: its projector applies
    -- what came after, and it goes live once that has caught up.
    built_through bigint
);
CREATE UNIQUE INDEX read_model_generations_one_live ON read_model_generations ((true))
    WHERE state = 'live';

-- Generation 1 is v1's: `public.product_view` and `public.product_image_view`, live now.
INSERT INTO read_model_generations (generation, state) VALUES (1, 'live');

CREATE SCHEMA read_model;
CREATE VIEW read_model.product_view AS SELECT * FROM public.product_view;
CREATE VIEW read_model.product_image_view AS SELECT * FROM public.product_image_view;

-- Generation 2 (Catalog 2): documents with `type`, `locale` and `translations`, and `q`
-- matching a product's text in any locale: the search vector takes the name and description
-- in every locale from the document's `translations`. `jsonb_to_tsvector` with an explicit
-- configuration is immutable, so the column stays generated and indexed. The columns are
-- generation 1's, in its order, so the live views can be pointed at either.
CREATE SCHEMA read_model_2;

CREATE TABLE read_model_2.product_view (
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
        setweight(to_tsvector('simple', name), 'B') ||
        setweight(jsonb_to_tsvector('simple', coalesce(doc->'translations'->'name', '{}'), '["string"]'), 'B') ||
        setweight(to_tsvector('simple', coalesce(description, '')), 'C') ||
        setweight(jsonb_to_tsvector('simple', coalesce(doc->'translations'->'description', '{}'), '["string"]'), 'C')
    ) STORED
);

-- Generation 1's indexes as its migrations left them.
CREATE INDEX product_view_updated_idx  ON read_model_2.product_view (status, updated_at DESC, id DESC);
CREATE INDEX product_view_name_idx     ON read_model_2.product_view (status, name, id);
CREATE INDEX product_view_price_idx    ON read_model_2.product_view (status, price_amount, id);
CREATE INDEX product_view_category_idx ON read_model_2.product_view (category, status, updated_at DESC, id DESC);
CREATE INDEX product_view_search_idx   ON read_model_2.product_view USING gin (search);
CREATE INDEX product_view_live_updated_idx ON read_model_2.product_view (updated_at DESC, id DESC)
    WHERE status <> 'archived';
CREATE INDEX product_view_live_name_idx ON read_model_2.product_view (name, id)
    WHERE status <> 'archived';
CREATE INDEX product_view_live_price_idx ON read_model_2.product_view (price_amount, id)
    WHERE status <> 'archived';

CREATE TABLE read_model_2.product_image_view (
    product_id text    NOT NULL REFERENCES read_model_2.product_view (id) ON DELETE CASCADE,
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

CREATE INDEX product_image_view_status_idx ON read_model_2.product_image_view (status)
    WHERE status = 'processing';

-- An installation with products builds generation 2 beside generation 1 and switches when it
-- has caught up (`projector run`); a new one has nothing to build and reads generation 2 at
-- once, leaving generation 1's empty tables to `projector retire`.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM events WHERE aggregate_type = 'Product') THEN
        INSERT INTO read_model_generations (generation, state) VALUES (2, 'building');
    ELSE
        UPDATE read_model_generations SET state = 'retiring' WHERE generation = 1;
        INSERT INTO read_model_generations (generation, state, built_through) VALUES (2, 'live', 0);
        CREATE OR REPLACE VIEW read_model.product_view AS SELECT * FROM read_model_2.product_view;
        CREATE OR REPLACE VIEW read_model.product_image_view AS
            SELECT * FROM read_model_2.product_image_view;
    END IF;
END
$$;
