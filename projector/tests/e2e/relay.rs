//! The outbox relay: one relay publishes per namespace, a standby takes over when it dies, and
//! a product's commit of several events travels as one message.

use std::time::Duration;

use catalog_store::broker::{self, WireEvent};
use catalog_store::relay::{self, RelayConfig};
use catalog_support::health::Link;
use catalog_support::shutdown::Shutdown;
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::helpers::*;

/// One relay as a command-api replica runs it, on connections that name it (`application_name`),
/// so the test can tell which one holds the lock.
async fn start_relay(world: &World, name: &str, shutdown: &Shutdown) -> JoinHandle<()> {
    let options = (*world.pool.connect_options())
        .clone()
        .application_name(name);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    let config = RelayConfig {
        amqp_url: world.amqp_url.clone(),
        namespace: world.namespace.clone(),
        batch_size: 100,
        poll_interval: Duration::from_millis(100),
        rounds_in_flight: 4,
        projector_shards: 1,
        link: Link::default(),
    };
    tokio::spawn(relay::run(pool, config, shutdown.clone()))
}

/// The `application_name` of the session holding the namespace's relay lock, if one does.
async fn lock_holder(pool: &PgPool, namespace: &str) -> Option<String> {
    // A lock on one bigint key shows its low 32 bits as `objid` and `objsubid` 1.
    sqlx::query_scalar(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.objid::bigint = (hashtext($1)::bigint & 4294967295)",
    )
    .bind(format!("catalog-relay:{namespace}"))
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// Waits for the relay to publish an event of product `id`.
async fn published(consumer: &mut lapin::Consumer, id: &str) {
    let wait = async {
        loop {
            let delivery = consumer.next().await.expect("the tap is open").unwrap();
            let events: Vec<WireEvent> = broker::decode(&delivery.data).unwrap();
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            if events.iter().any(|event| event.aggregate_id == id) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("no event of {id} was published"));
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_standby_relay_takes_over_when_the_leader_dies(pool: PgPool) {
    // command-api without a relay of its own: the two below are the only ones.
    let world = World::start(pool.clone(), Options::new(false, false)).await;
    let connection = catalog_store::broker::connect(&world.amqp_url)
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut tap = tap_events(
        &channel,
        &world.topology(),
        "relay-probe",
        BasicConsumeOptions::default(),
    )
    .await;
    let shutdown = Shutdown::default();
    let namespace = world.namespace.clone();

    let leader = start_relay(&world, "relay-a", &shutdown).await;
    eventually(Duration::from_secs(30), || async {
        (lock_holder(&pool, &namespace).await.as_deref() == Some("relay-a")).then_some(())
    })
    .await
    .expect("the first relay takes the lock");
    let standby = start_relay(&world, "relay-b", &shutdown).await;
    // The second relay has asked for the lock (its last statement) and not got it.
    eventually(Duration::from_secs(30), || async {
        let asked: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'relay-b' \
             AND state = 'idle' AND query LIKE '%pg_try_advisory_lock%')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        asked.then_some(())
    })
    .await
    .expect("the second relay asks for the lock");
    assert_eq!(
        lock_holder(&pool, &namespace).await.as_deref(),
        Some("relay-a"),
        "the second relay is a standby"
    );
    let before = world.create("RELAY-1").await;
    published(&mut tap, &before).await;

    // The leader dies without a word: its task is dropped mid-flight, and with it its
    // connections, as when its process is killed.
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    let after = world.create("RELAY-2").await;
    published(&mut tap, &after).await;
    assert_eq!(
        lock_holder(&pool, &namespace).await.as_deref(),
        Some("relay-b"),
        "the standby holds the lock now"
    );

    shutdown.trigger();
    standby.await.unwrap();
    let _ = connection.close(200, "done".into()).await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_commit_of_several_events_travels_as_one_message(pool: PgPool) {
    let world = World::start(pool.clone(), Options::new(true, true)).await;
    let connection = broker::connect(&world.amqp_url).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut tap = tap_events(
        &channel,
        &world.topology(),
        "bundle-probe",
        BasicConsumeOptions::default(),
    )
    .await;

    // An imported product with two variants, one of them priced: one commit of several events.
    let line = serde_json::json!({
        "sku": "BUNDLE-1", "name": "Shirt", "stock": 5,
        "price": {"amount": 1999, "currency": "EUR"},
        "variants": [
            {"sku": "BUNDLE-1-M", "attributes": {"size": "M"},
             "prices": [{"amount": 2100, "currency": "EUR"}]},
            {"sku": "BUNDLE-1-L", "attributes": {"size": "L"}},
        ]
    });
    let response = world
        .client
        .post(format!("{}/imports", world.base))
        .bearer_auth(&world.token)
        .header("content-type", "application/x-ndjson")
        .body(format!("{line}\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);

    let delivery = tokio::time::timeout(Duration::from_secs(30), tap.next())
        .await
        .expect("the import's events are published")
        .expect("the tap is open")
        .unwrap();
    delivery.ack(BasicAckOptions::default()).await.unwrap();
    let carried = broker::decode(&delivery.data).unwrap();
    let id = carried[0].aggregate_id.clone();
    let stored = world.wire_events(&id).await;
    assert!(stored.len() >= 3, "{stored:?}");
    assert_eq!(
        carried, stored,
        "the whole commit, in order, in one message"
    );
    assert_eq!(
        delivery.routing_key.as_str(),
        broker::routing_key(&stored),
        "the key names each type it carries"
    );
    assert!(delivery
        .routing_key
        .as_str()
        .starts_with("product.ProductCreated.VariantAdded"));
    let headers = delivery.properties.headers().clone().unwrap();
    assert_eq!(
        headers.inner().get("events"),
        Some(&lapin::types::AMQPValue::LongLongInt(stored.len() as i64))
    );

    // The projector applies all of it.
    let (postgres, _) = world.wait_for_version(&id, stored.len() as u64).await;
    let skus: Vec<&str> = postgres.variants.iter().map(|v| v.sku.as_str()).collect();
    assert_eq!(
        skus,
        ["BUNDLE-1", "BUNDLE-1-M", "BUNDLE-1-L"],
        "the master and two variants"
    );
    assert!(world.verify().await.is_empty());
    let _ = connection.close(200, "done".into()).await;
}
