-- Attribute filters and facets (`attr.<name>=`, `.min`, `.max`, `type=`, `facets=`; docs/API.md
-- "Search"): generation 3's products' values by facet, one row per product and value however
-- many of its variants hold it, so that a filter is an index lookup and a facet's counts are a
-- join of the filtered products with their values. Kept by statement-level triggers on
-- `product_view` from the documents themselves, so a rebuild and `projector verify` cover it
-- as they cover the views.
--
-- A facet is `type` (the product type's key) or `attr.<name>`: every product-level attribute
-- and every variant's attribute whose value is a string, a number or a boolean (an `ltext`
-- attribute's document holds its default-locale text, a string). Values are JSON, numbers
-- without trailing zeros, so `1.50` and `1.5` are one value; `number` holds a number's value
-- for ranges. Category and status are the views' own indexed columns.
CREATE FUNCTION public.catalog_facet_values(doc jsonb)
RETURNS TABLE (facet text, value jsonb, number numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 'type', doc->'type', NULL::numeric
    WHERE jsonb_typeof(doc->'type') = 'string'
    UNION
    SELECT 'attr.' || a.key,
           CASE WHEN jsonb_typeof(a.value) = 'number'
                THEN to_jsonb(trim_scale(a.value::numeric)) ELSE a.value END,
           CASE WHEN jsonb_typeof(a.value) = 'number' THEN trim_scale(a.value::numeric) END
    FROM (SELECT doc->'attributes' AS attributes
          UNION ALL
          SELECT v->'attributes' FROM jsonb_array_elements(
              CASE WHEN jsonb_typeof(doc->'variants') = 'array' THEN doc->'variants' ELSE '[]' END) v
         ) s
    CROSS JOIN LATERAL jsonb_each(
        CASE WHEN jsonb_typeof(s.attributes) = 'object' THEN s.attributes ELSE '{}' END) a
    WHERE jsonb_typeof(a.value) IN ('string', 'number', 'boolean')
$$;

CREATE TABLE read_model_3.product_facet_values (
    product_id text    NOT NULL,
    facet      text    NOT NULL,
    value      jsonb   NOT NULL,
    number     numeric
);

-- A product's values: the triggers' deletes and the facets' join.
CREATE INDEX product_facet_values_product_idx
    ON read_model_3.product_facet_values (product_id, facet);
-- Equality filters. A text attribute holds up to 1,000 characters, more than a btree entry may
-- always take: the index keeps the first 200 of the value's JSON text and the filter rechecks
-- the whole value.
CREATE INDEX product_facet_values_value_idx
    ON read_model_3.product_facet_values (facet, left(value::text, 200), product_id);
-- `attr.<name>.min` / `.max`.
CREATE INDEX product_facet_values_number_idx
    ON read_model_3.product_facet_values (facet, number, product_id)
    WHERE number IS NOT NULL;

-- One statement per batch of the projector: the values a statement's rows gained are inserted,
-- those they lost deleted. Most changes (stock, prices, status, text) leave a product's values
-- as they were and write nothing here.
CREATE FUNCTION read_model_3.product_facet_values_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO read_model_3.product_facet_values (product_id, facet, value, number)
        SELECT n.id, v.facet, v.value, v.number
        FROM new_rows n CROSS JOIN LATERAL public.catalog_facet_values(n.doc) v;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM read_model_3.product_facet_values f
        USING old_rows o WHERE f.product_id = o.id;
    ELSE
        DELETE FROM read_model_3.product_facet_values f
        USING (
            SELECT o.id, v.facet, v.value
            FROM old_rows o CROSS JOIN LATERAL public.catalog_facet_values(o.doc) v
            EXCEPT
            SELECT n.id, v.facet, v.value
            FROM new_rows n CROSS JOIN LATERAL public.catalog_facet_values(n.doc) v
        ) gone
        WHERE f.product_id = gone.id AND f.facet = gone.facet AND f.value = gone.value;
        INSERT INTO read_model_3.product_facet_values (product_id, facet, value, number)
        SELECT n.id, v.facet, v.value, v.number
        FROM new_rows n CROSS JOIN LATERAL public.catalog_facet_values(n.doc) v
        EXCEPT
        SELECT o.id, v.facet, v.value, v.number
        FROM old_rows o CROSS JOIN LATERAL public.catalog_facet_values(o.doc) v;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER product_view_facets_inserted AFTER INSERT ON read_model_3.product_view
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_3.product_facet_values_changed();
CREATE TRIGGER product_view_facets_updated AFTER UPDATE ON read_model_3.product_view
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_3.product_facet_values_changed();
CREATE TRIGGER product_view_facets_deleted AFTER DELETE ON read_model_3.product_view
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_3.product_facet_values_changed();

INSERT INTO read_model_3.product_facet_values (product_id, facet, value, number)
SELECT p.id, v.facet, v.value, v.number
FROM read_model_3.product_view p CROSS JOIN LATERAL public.catalog_facet_values(p.doc) v;

-- query-api reads it through the live schema, as it does the views; see the vocabulary's
-- migration for what a generation still building means for it.
CREATE VIEW read_model.product_facet_values AS SELECT * FROM read_model_3.product_facet_values;
