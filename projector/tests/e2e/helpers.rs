pub use catalog_testkit::*;

use sqlx::PgPool;

/// Writes `products` products with `per_product` events each straight into the event store,
/// in v1's shapes (event version 1, plain-text names); product `n` has id [`seeded_id`]`(n)`.
pub async fn seed_v1_events(pool: &PgPool, products: i64, per_product: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT 'Product', '00000000-0000-4000-8000-' || lpad(p::text, 12, '0'), s, \
           CASE WHEN s = 1 THEN 'ProductCreated' ELSE 'StockAdjusted' END, '1', \
           CASE WHEN s = 1 THEN jsonb_build_object('ProductCreated', jsonb_build_object( \
               'sku', 'SKU-' || p, 'name', 'Product ' || p, 'description', null, 'category', 'c' || (p % 10), \
               'attributes', '{}'::jsonb, 'price', jsonb_build_object('amount', p, 'currency', 'EUR'), 'stock', 0)) \
             ELSE jsonb_build_object('StockAdjusted', jsonb_build_object('delta', 1, 'reason', 'seed', 'stock', s - 1)) END, \
           '{\"actor\": \"seed\"}'::jsonb \
         FROM generate_series(1, $1) p, generate_series(1, $2) s",
    )
    .bind(products)
    .bind(per_product)
    .execute(pool)
    .await
    .unwrap();
}

/// The id of the `n`th product [`seed_v1_events`] wrote.
pub fn seeded_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
