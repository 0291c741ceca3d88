//! The product cache of the write path (`ProductStore::caching`): a warm product is decided
//! without reading the store, and a cache another process has made stale never decides an
//! outcome on its own — a stale append loses its race and is decided again, and a refusal, a
//! failed `If-Match` or "nothing to do" is checked against the stored state first. Two stores
//! on one database stand for two command-api replicas (or command-api and the image worker).

mod support;

use catalog_domain::{ProductCommand, ProductError, Schema};
use catalog_store::event_store::ProductStore;
use catalog_store::repository::StoreError;
use sqlx::PgPool;
use support::{adjust, create, run, stored_stock};

fn store(pool: &PgPool) -> ProductStore {
    ProductStore::new(pool.clone(), 50, Schema::default()).caching(100)
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_warm_product_is_decided_without_reading_the_store(pool: PgPool) {
    let a = store(&pool);
    let id = uuid::Uuid::now_v7().to_string();
    assert_eq!(run(&a, &id, create("CACHE-1", 5), None).await.unwrap(), 1);
    // Behind the cache's back, the stored history now says the stock is 0 (a replay would
    // refuse the removal below). The cache, which kept 5, decides it: no read was made.
    sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{ProductCreated,stock}', '0') \
          WHERE aggregate_id = $1",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(stored_stock(&pool, &id).await, 0, "the tampering took");
    assert_eq!(run(&a, &id, adjust(-3), None).await.unwrap(), 2);
    // A store without the product in memory reads the store, and refuses.
    let cold = store(&pool);
    assert!(matches!(
        run(&cold, &id, adjust(-3), None).await,
        Err(StoreError::Refused(ProductError::InsufficientStock { .. }))
    ));
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_append_decided_on_a_stale_cache_loses_and_is_decided_again(pool: PgPool) {
    let (a, b) = (store(&pool), store(&pool));
    let id = uuid::Uuid::now_v7().to_string();
    run(&a, &id, create("CACHE-2", 5), None).await.unwrap();
    // b empties the stock; a still holds stock 5 at version 1.
    assert_eq!(run(&b, &id, adjust(-5), None).await.unwrap(), 2);
    // Decided on a's cache, the removal would pass; its append loses to b's version 2, a
    // forgets the product, reloads and refuses on the stored state.
    assert!(matches!(
        run(&a, &id, adjust(-3), None).await,
        Err(StoreError::Refused(ProductError::InsufficientStock { .. }))
    ));
    // And an addition decided again lands on top of b's.
    assert_eq!(run(&a, &id, adjust(4), None).await.unwrap(), 3);
    assert_eq!(stored_stock(&pool, &id).await, 4);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_refusal_on_a_stale_cache_is_checked_against_the_stored_state(pool: PgPool) {
    let (a, b) = (store(&pool), store(&pool));
    let id = uuid::Uuid::now_v7().to_string();
    run(&a, &id, create("CACHE-3", 0), None).await.unwrap();
    // b adds stock; a's cache still says 0, where a removal is refused.
    run(&b, &id, adjust(10), None).await.unwrap();
    assert_eq!(run(&a, &id, adjust(-3), None).await.unwrap(), 3);
    assert_eq!(stored_stock(&pool, &id).await, 7);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn if_match_with_a_version_written_elsewhere_passes_a_stale_cache(pool: PgPool) {
    let (a, b) = (store(&pool), store(&pool));
    let id = uuid::Uuid::now_v7().to_string();
    run(&a, &id, create("CACHE-4", 5), None).await.unwrap();
    let written = run(&b, &id, adjust(1), None).await.unwrap();
    // The client read version 2 (b's); a holds version 1. The precondition holds.
    assert_eq!(run(&a, &id, adjust(1), Some(written)).await.unwrap(), 3);
    // And a real mismatch is still refused, naming the stored version.
    assert!(matches!(
        run(&a, &id, adjust(1), Some(written)).await,
        Err(StoreError::PreconditionFailed { current: 3 })
    ));
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn nothing_to_do_on_a_stale_cache_is_checked_against_the_stored_state(pool: PgPool) {
    let (a, b) = (store(&pool), store(&pool));
    let id = uuid::Uuid::now_v7().to_string();
    run(&a, &id, create("CACHE-5", 5), None).await.unwrap();
    assert_eq!(
        run(&a, &id, ProductCommand::Publish, None).await.unwrap(),
        2
    );
    assert_eq!(
        run(&b, &id, ProductCommand::Unpublish, None).await.unwrap(),
        3
    );
    // a's cache says published, where publishing again is refused: the stored state says
    // draft, and the product is published.
    assert_eq!(
        run(&a, &id, ProductCommand::Publish, None).await.unwrap(),
        4
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_cached_state_matches_a_replay_across_snapshots(pool: PgPool) {
    // Snapshots every 3 events, so the cache carries cqrs-es's snapshot counter across several.
    let a = ProductStore::new(pool.clone(), 3, Schema::default()).caching(100);
    let id = uuid::Uuid::now_v7().to_string();
    run(&a, &id, create("CACHE-6", 0), None).await.unwrap();
    for n in 1..=10 {
        run(&a, &id, adjust(n), None).await.unwrap();
    }
    let (replayed, version) = ProductStore::new(pool.clone(), 3, Schema::default())
        .load(&id)
        .await
        .unwrap();
    assert_eq!(version, 11);
    assert_eq!(replayed.variants[0].stock, 55);
    let snapshots: i64 =
        sqlx::query_scalar("SELECT last_sequence FROM snapshots WHERE aggregate_id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(snapshots, 9, "snapshots were taken as without a cache");
    assert_eq!(run(&a, &id, adjust(-55), None).await.unwrap(), 12);
    assert_eq!(stored_stock(&pool, &id).await, 0);
}
