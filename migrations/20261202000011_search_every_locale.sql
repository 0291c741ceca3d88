-- `q` matches a product's text in any locale (Catalog 2, "Localized text"): the search vector
-- takes the name and description in every locale from the document's `translations`, beside
-- the default locale's `name` and `description` columns (a document stored before translations
-- existed has none, and is searched by its columns as before). `jsonb_to_tsvector` with an
-- explicit configuration is immutable, so the column stays generated and indexed.
ALTER TABLE product_view DROP COLUMN search;

ALTER TABLE product_view ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', sku), 'A') ||
    setweight(to_tsvector('simple', name), 'B') ||
    setweight(jsonb_to_tsvector('simple', coalesce(doc->'translations'->'name', '{}'), '["string"]'), 'B') ||
    setweight(to_tsvector('simple', coalesce(description, '')), 'C') ||
    setweight(jsonb_to_tsvector('simple', coalesce(doc->'translations'->'description', '{}'), '["string"]'), 'C')
) STORED;

CREATE INDEX product_view_search_idx ON product_view USING gin (search);
