use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use catalog_domain::ProductStatus;
use futures::{FutureExt, StreamExt};
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn commands_show_up_in_both_read_models(pool: PgPool) {
    let world = World::start(pool, Options::new(true, true)).await;
    let id = world.create("E2E-1").await;
    world
        .send(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({"name": "Renamed", "attributes": {"a": "b"}})),
        )
        .await;
    world
        .send(
            Method::PUT,
            &format!("/products/{id}/price"),
            Some(json!({"amount": 750, "currency": "USD"})),
        )
        .await;
    world.adjust(&id, -30).await;
    world
        .send(Method::POST, &format!("/products/{id}/publish"), None)
        .await;

    let (pg, redis) = world.wait_for_version(&id, 5).await;
    assert_eq!(pg, redis, "both read models hold the same document");
    assert_eq!(pg.version, 5);
    assert_eq!(pg.name, "Renamed");
    assert_eq!(pg.price.as_ref().unwrap().amount, 750);
    assert_eq!(pg.price.as_ref().unwrap().currency, "USD");
    assert_eq!(pg.stock, 70);
    assert_eq!(pg.status, ProductStatus::Published);
    assert_eq!(pg.attributes.get("a"), Some(&"b".into()));
    assert!(pg.updated_at > pg.created_at);
    assert_eq!(world.verify().await, Vec::<String>::new());

    // The lag and the relay's progress are exported (one recorder per process, shared here).
    let exported = catalog_support::metrics::handle().render();
    for series in [
        "catalog_projection_lag_seconds_bucket",
        "catalog_relay_published_total",
        "catalog_relay_backlog",
    ] {
        assert!(
            exported.contains(series),
            "{series} missing from:\n{exported}"
        );
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_duplicate_delivery_changes_nothing(pool: PgPool) {
    let world = World::start(pool, Options::new(false, true)).await;
    let id = world.create("DUP-1").await;
    world.adjust(&id, -1).await;
    let events = world.wire_events(&id).await;
    world.publish(&events).await;
    let (before, _) = world.wait_for_version(&id, 2).await;

    // The same two events again, and the last one a third time.
    world.publish(&events).await;
    world.publish(&events[1..]).await;
    let skipped = eventually(Duration::from_secs(10), || async {
        (world.stats.skipped.load(Ordering::Relaxed) >= 3).then_some(())
    })
    .await;
    assert!(
        skipped.is_some(),
        "the duplicates were consumed and skipped"
    );
    let (after, redis) = world.wait_for_version(&id, 2).await;
    assert_eq!(after, before);
    assert_eq!(redis, before);
    assert_eq!(after.stock, 99, "the adjustment was applied once");
    assert_eq!(world.stats.applied.load(Ordering::Relaxed), 2);
    assert_eq!(world.verify().await, Vec::<String>::new());
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn out_of_order_delivery_is_healed_from_the_event_store(pool: PgPool) {
    let world = World::start(pool, Options::new(false, true)).await;
    let id = world.create("OOO-1").await;
    for delta in [-1, -2, -3] {
        world.adjust(&id, delta).await;
    }
    let events = world.wire_events(&id).await;
    assert_eq!(events.len(), 4);
    // The last event first: the projector must read 1..3 from the event store.
    world.publish(&events[3..]).await;
    let (view, _) = world.wait_for_version(&id, 4).await;
    assert_eq!(view.stock, 94);
    // The earlier ones arrive late and change nothing.
    world
        .publish(&[events[1].clone(), events[0].clone(), events[2].clone()])
        .await;
    let skipped = eventually(Duration::from_secs(10), || async {
        (world.stats.skipped.load(Ordering::Relaxed) >= 3).then_some(())
    })
    .await;
    assert!(skipped.is_some());
    assert_eq!(world.wait_for_version(&id, 4).await.0, view);
    assert_eq!(world.verify().await, Vec::<String>::new());
}

/// The relay's `catalog_relay_backlog` gauge as this process exports it, once the relay set it.
fn relay_backlog() -> Option<f64> {
    catalog_support::metrics::handle()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix("catalog_relay_backlog "))
        .and_then(|value| value.trim().parse().ok())
}

/// Inserts a ProductCreated event for a new product in the open transaction `tx`.
async fn insert_created(tx: &mut sqlx::PgConnection, id: &str, sku: &str) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Product', $1, 1, 'ProductCreated', '1', $2, '{\"actor\": \"test\"}')",
    )
    .bind(id)
    .bind(json!({"ProductCreated": {
        "sku": sku, "name": sku, "description": null, "category": null, "attributes": {},
        "price": {"amount": 1, "currency": "EUR"}, "stock": 0
    }}))
    .execute(tx)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_event_whose_transaction_commits_late_is_still_delivered(pool: PgPool) {
    let world = World::start(pool.clone(), Options::new(true, false)).await;
    // A probe queue of our own on the namespace's exchange sees everything the relay publishes.
    let connection = catalog_store::broker::connect(AMQP_URL).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut consumer = tap_events(
        &channel,
        &world.topology(),
        "probe",
        BasicConsumeOptions::default(),
    )
    .await;

    let early = uuid::Uuid::now_v7().to_string();
    let late = uuid::Uuid::now_v7().to_string();
    // The first transaction takes the lower position but commits last.
    let mut first = pool.begin().await.unwrap();
    insert_created(&mut first, &early, "EARLY").await;
    let mut second = pool.begin().await.unwrap();
    insert_created(&mut second, &late, "LATE").await;
    second.commit().await.unwrap();
    let positions: Vec<(String, i64)> =
        sqlx::query_as("SELECT aggregate_id, position FROM events ORDER BY position")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        positions.len(),
        1,
        "only the second transaction is visible yet"
    );
    // The relay looks while only the higher position is committed: it counts that event as
    // waiting (its backlog gauge, refreshed from the store during its rounds) yet must neither
    // publish it nor move its checkpoint, or the lower position would be passed for good.
    let seen = eventually(Duration::from_secs(10), || async {
        (relay_backlog() == Some(1.0)).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "the relay saw the committed event waiting behind the open transaction"
    );
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT position FROM relay_checkpoints WHERE name = $1")
            .bind(&world.namespace)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(checkpoint, 0, "the relay's checkpoint stays before both");
    assert!(
        consumer.next().now_or_never().is_none(),
        "nothing is published while the lower position is uncommitted"
    );
    first.commit().await.unwrap();
    let positions: Vec<(String, i64)> =
        sqlx::query_as("SELECT aggregate_id, position FROM events ORDER BY position")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        positions[0].0, early,
        "the late commit holds the lower position"
    );

    let mut delivered = BTreeSet::new();
    while delivered.len() < 2 {
        let next = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("both events are delivered");
        let delivery = next.unwrap().unwrap();
        let events = catalog_store::broker::decode(&delivery.data).unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        delivered.extend(events.into_iter().map(|event| event.aggregate_id));
    }
    assert_eq!(delivered, BTreeSet::from([early, late]));
    let _ = connection.close(200, "done".into()).await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_poison_message_is_dead_lettered_without_blocking_the_queue(pool: PgPool) {
    let world = World::start(pool, Options::new(false, true)).await;
    let id = world.create("POISON-1").await;
    let mut events = world.wire_events(&id).await;
    let mut poison = events[0].clone();
    poison.aggregate_id = uuid::Uuid::now_v7().to_string();
    poison.payload = json!({"NoSuchEvent": {}});
    events.insert(0, poison);
    world.publish(&events).await;
    world.wait_for_version(&id, 1).await;
    let dead = eventually(Duration::from_secs(10), || async {
        (world.stats.dead_lettered.load(Ordering::Relaxed) == 1).then_some(())
    })
    .await;
    assert!(
        dead.is_some(),
        "the poison message went to the dead-letter queue"
    );
}
