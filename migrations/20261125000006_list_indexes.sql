-- Indexes for GET /products as it is queried. Without a status parameter a list leaves
-- archived products out (`status <> 'archived'`), which a (status, …) index cannot serve in sort
-- order; partial indexes over the live products can, for each documented sort. With a status,
-- the (status, sort key, id) indexes serve it. `id` ends every index: it is the tie-breaker of
-- keyset pagination.
CREATE INDEX product_view_live_updated_idx ON product_view (updated_at DESC, id DESC)
    WHERE status <> 'archived';
CREATE INDEX product_view_live_name_idx ON product_view (name, id)
    WHERE status <> 'archived';
CREATE INDEX product_view_live_price_idx ON product_view (price_amount, id)
    WHERE status <> 'archived';

-- Sorting by price is by amount; the currency is a filter on top, not a sort key.
DROP INDEX product_view_price_idx;
CREATE INDEX product_view_price_idx ON product_view (status, price_amount, id);
