-- Attribute filters and facets (`type=`, `attr.<name>=`, `.min`, `.max`, `facets=`; docs/API.md
-- "Search"): each product's values as tokens, `<facet>=<value as JSON>`, in a column of the view
-- itself with a GIN index. A filter is a containment test the index answers, or a check of the
-- row a list's order index already reads; a facet's counts are the tokens of the rows the list
-- selects, read in the same pass. The column is generated from the document, so it can never
-- disagree with it, and a rebuild writes it with the rows.
--
-- The facets are `category`, `type` (the product type's key) and `attr.<name>`: every
-- product-level attribute and every variant's attribute whose value is a string, a number or a
-- boolean (an `ltext` attribute's document holds its default-locale text, a string), each value
-- once per product however many variants hold it. Numbers are written without trailing zeros,
-- so `1.50` and `1.5` are one value. A value's JSON text is cut to 200 characters: a text
-- attribute may hold 1,000, more than an index entry should; a filter on a longer value
-- rechecks the document. Status, a column of its own, is counted from that column.
CREATE FUNCTION public.catalog_facet_tokens(doc jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT token ORDER BY token), '{}')
    FROM (
        SELECT 'category=' || left((doc->'category')::text, 200)
        WHERE jsonb_typeof(doc->'category') = 'string'
        UNION ALL
        SELECT 'type=' || left((doc->'type')::text, 200)
        WHERE jsonb_typeof(doc->'type') = 'string'
        UNION ALL
        SELECT 'attr.' || a.key || '=' || left(
                   CASE WHEN jsonb_typeof(a.value) = 'number'
                        THEN trim_scale(a.value::numeric)::text
                        ELSE a.value::text END, 200)
        FROM (SELECT doc->'attributes' AS attributes
              UNION ALL
              SELECT v->'attributes' FROM jsonb_array_elements(
                  CASE WHEN jsonb_typeof(doc->'variants') = 'array'
                       THEN doc->'variants' ELSE '[]' END) v
             ) s
        CROSS JOIN LATERAL jsonb_each(
            CASE WHEN jsonb_typeof(s.attributes) = 'object' THEN s.attributes ELSE '{}' END) a
        WHERE jsonb_typeof(a.value) IN ('string', 'number', 'boolean')
    ) t(token)
$$;

-- Appended last: the live view (`SELECT *`) gains it in place below, and at the switch to
-- this generation otherwise.
ALTER TABLE read_model_3.product_view
    ADD COLUMN facets text[] NOT NULL GENERATED ALWAYS AS (public.catalog_facet_tokens(doc)) STORED;

CREATE INDEX product_view_facets_idx ON read_model_3.product_view USING gin (facets);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM read_model_generations WHERE generation = 3 AND state = 'live') THEN
        CREATE OR REPLACE VIEW read_model.product_view AS SELECT * FROM read_model_3.product_view;
    END IF;
END
$$;
