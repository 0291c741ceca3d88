use std::time::Duration;

use projector::rebuild::{rebuild, Target};
use sqlx::PgPool;

use crate::helpers::*;

/// Writes `products` products with `per_product` events each straight into the event store.
async fn seed(pool: &PgPool, products: i64, per_product: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT 'Product', 'p' || lpad(p::text, 8, '0'), s, \
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

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn rebuilding_100000_events_reproduces_every_product(pool: PgPool) {
    let world = World::start(pool.clone(), Options::new(false, false)).await;
    seed(&pool, 10_000, 10).await;
    // Stale content the rebuild must replace.
    sqlx::query("INSERT INTO product_view (id, sku, name, status, price_amount, price_currency, stock, version, created_at, updated_at, state, doc) \
                 VALUES ('ghost', 'G', 'G', 'draft', 0, 'EUR', 0, 1, now(), now(), '{}', '{}')")
        .execute(&pool)
        .await
        .unwrap();

    let rebuilt = rebuild(&pool, &world.redis, Target::All, false)
        .await
        .unwrap();
    println!(
        "rebuilt {} products from {} events in {:.2?}: {:.0} events/s",
        rebuilt.products,
        rebuilt.events,
        rebuilt.elapsed,
        rebuilt.events_per_sec()
    );
    assert_eq!(rebuilt.events, 100_000);
    assert_eq!(rebuilt.products, 10_000);
    let view = world.postgres_view("p00000042").await.unwrap();
    assert_eq!((view.version, view.stock, view.price.amount), (10, 9, 42));
    assert_eq!(world.redis_view("p00000042").await.unwrap(), view);
    assert!(world.postgres_view("ghost").await.is_none());
    assert_eq!(world.verify().await, Vec::<String>::new());
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_rebuild_while_commands_flow_loses_nothing(pool: PgPool) {
    let world = World::start(pool.clone(), Options::new(true, true)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(world.create(&format!("LIVE-{i}")).await);
    }
    let writer = async {
        for round in 0..20 {
            for id in &ids {
                world.adjust(id, -1).await;
            }
            if round == 5 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let rebuilder = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        rebuild(&pool, &world.redis, Target::All, false)
            .await
            .unwrap()
    };
    let ((), rebuilt) = tokio::join!(writer, rebuilder);
    assert!(rebuilt.events > 0);
    for id in &ids {
        let (view, _) = world.wait_for_version(id, 21).await;
        assert_eq!(view.stock, 80);
    }
    world.wait_for_quiescence().await;
    assert_eq!(world.verify().await, Vec::<String>::new());
}
