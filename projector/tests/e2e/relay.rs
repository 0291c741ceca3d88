//! The outbox relay's leadership: one relay publishes per namespace, and a standby takes over
//! when it dies.

use std::time::Duration;

use catalog_store::broker::WireEvent;
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
            let event: WireEvent = serde_json::from_slice(&delivery.data).unwrap();
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            if event.aggregate_id == id {
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
