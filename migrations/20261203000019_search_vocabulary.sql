-- Typo-tolerant search (`q`, docs/API.md "Search"): the vocabulary of generation 3's search
-- text, every word of letters any product's sku, name (any locale) or description has held,
-- with a trigram index that finds the words a mistyped one is within an edit or two of. A
-- query word is widened to those words, found here, and the products are then matched through
-- the search vector's own index as before.
--
-- The vocabulary only grows: a word no product holds any more widens a query to a term that
-- matches nothing, which costs nothing, and `projector rebuild` starts it afresh. Words with
-- digits (SKUs, codes, sizes) are left out: they match exactly, as a search engine's typo
-- tolerance leaves numbers alone, and a catalog's million SKUs would make every trigram
-- lookup of a number read them all.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;

-- The words the vocabulary keeps: one home for the trigger, the first fill and `projector
-- verify`. Three letters at least: a word of four, mistyped, may be one of three.
CREATE FUNCTION public.catalog_search_word(word text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT char_length(word) BETWEEN 3 AND 64 AND word !~ '[[:digit:]]'
$$;

CREATE TABLE read_model_3.search_words (
    word text PRIMARY KEY
);
CREATE INDEX search_words_trgm_idx ON read_model_3.search_words USING gin (word gin_trgm_ops);

-- The words a statement's rows brought that the rows it replaced did not have: whatever the
-- old rows held is in the vocabulary already. One statement per batch of the projector, so a
-- word common to the batch is looked up once.
CREATE FUNCTION read_model_3.search_words_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO read_model_3.search_words (word)
        SELECT DISTINCT w FROM new_rows, unnest(tsvector_to_array(new_rows.search)) w
        WHERE public.catalog_search_word(w)
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO read_model_3.search_words (word)
        SELECT w FROM (
            SELECT w FROM new_rows, unnest(tsvector_to_array(new_rows.search)) w
            EXCEPT
            SELECT w FROM old_rows, unnest(tsvector_to_array(old_rows.search)) w
        ) added
        WHERE public.catalog_search_word(w)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER product_view_words_inserted AFTER INSERT ON read_model_3.product_view
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_3.search_words_added();
CREATE TRIGGER product_view_words_updated AFTER UPDATE ON read_model_3.product_view
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_3.search_words_added();

INSERT INTO read_model_3.search_words (word)
SELECT DISTINCT w FROM read_model_3.product_view, unnest(tsvector_to_array(search)) w
WHERE public.catalog_search_word(w)
ON CONFLICT DO NOTHING;

-- query-api reads it through the live schema, as it does the views. While an older
-- generation is still live (generation 3 building), the vocabulary is the one being built:
-- typo tolerance widens less until the switch, and exact matches are unaffected.
CREATE VIEW read_model.search_words AS SELECT * FROM read_model_3.search_words;
