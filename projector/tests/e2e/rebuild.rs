use std::sync::atomic::Ordering;
use std::time::Duration;

use projector::rebuild::{rebuild, Target};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn rebuilding_100000_events_reproduces_every_product(pool: PgPool) {
    // The read model's tables are this release's generation's.
    let pool = read_model_pool(&pool);
    let world = World::start(pool.clone(), Options::new(false, false)).await;
    seed_v1_events(&pool, 10_000, 10).await;
    // Stale content the rebuild must replace.
    sqlx::query("INSERT INTO product_view (id, sku, name, status, price_amount, price_currency, stock, version, created_at, updated_at, state, doc) \
                 VALUES ('ghost', 'G', 'G', 'draft', 0, 'EUR', 0, 1, now(), now(), '{}', '{}')")
        .execute(&pool)
        .await
        .unwrap();

    let rebuilt = rebuild(
        &pool,
        &world.redis,
        &catalog_domain::Schema::default(),
        Target::All,
        false,
    )
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
    let view = world.postgres_view(&seeded_id(42)).await.unwrap();
    assert_eq!(
        (
            view.version,
            view.stock,
            view.price.as_ref().unwrap().amount
        ),
        (10, 9, 42)
    );
    assert_eq!(world.redis_view(&seeded_id(42)).await.unwrap(), view);
    assert!(world.postgres_view("ghost").await.is_none());
    assert_eq!(world.verify().await, Vec::<String>::new());
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_rebuild_while_commands_flow_loses_nothing(pool: PgPool) {
    // The read model's tables are this release's generation's.
    let pool = read_model_pool(&pool);
    // While the rebuild and the live consumer wait on each other they hold connections, and
    // the test's pool has only a handful: the commands must not wait for one too.
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let world = World::start(pool.clone(), Options::new(true, true)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = world.create(&format!("LIVE-{i}")).await;
        for _ in 0..3 {
            world.adjust(&id, -1).await;
        }
        ids.push(id);
    }
    world.wait_for_quiescence().await;

    // A transaction of the test's own holds a lock that the rebuild's EXCLUSIVE lock waits for
    // (and the live consumer's writes do not): the rebuild is under way, held at its lock for as
    // long as the test needs.
    let mut gate = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE product_view IN ROW SHARE MODE")
        .execute(&mut *gate)
        .await
        .unwrap();
    let schema = catalog_domain::Schema::default();
    let rebuilding = rebuild(&pool, &world.redis, &schema, Target::All, false);
    let overlapping = async {
        let waiting = eventually(Duration::from_secs(20), || async {
            (waiting_for_product_view(&pool, true).await > 0).then_some(())
        })
        .await;
        assert!(waiting.is_some(), "the rebuild waits for its lock");

        // Commands while the rebuild runs: the relay publishes them and the live consumer's
        // writes queue up behind the rebuild's lock.
        let before = (
            world.stats.applied.load(Ordering::Relaxed),
            world.stats.skipped.load(Ordering::Relaxed),
        );
        for id in &ids {
            world.adjust(id, -1).await;
        }
        let collided = eventually(Duration::from_secs(20), || async {
            (waiting_for_product_view(&pool, false).await > 0).then_some(())
        })
        .await;
        assert!(
            collided.is_some(),
            "the live consumer has the commands' events to write while the rebuild runs"
        );
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
        gate.commit().await.unwrap();
        (before, stored)
    };
    let (rebuilt, ((applied, skipped), stored)) = tokio::join!(rebuilding, overlapping);
    let rebuilt = rebuilt.unwrap();
    // The rebuild read the events once it held its lock: the commands it overlapped are in it.
    assert_eq!(
        rebuilt.events, stored as u64,
        "the rebuild replays the commands it overlapped"
    );
    assert_eq!(rebuilt.products, ids.len() as u64);
    // The events the live consumer had waiting are already in the rebuilt views: each is
    // skipped, none applied a second time.
    let caught_up = eventually(Duration::from_secs(20), || async {
        (world.stats.skipped.load(Ordering::Relaxed) - skipped >= ids.len() as u64).then_some(())
    })
    .await;
    assert!(
        caught_up.is_some(),
        "the waiting events were consumed after the rebuild"
    );
    assert_eq!(world.stats.applied.load(Ordering::Relaxed), applied);

    // And the consumer goes on from the rebuilt views.
    for id in &ids {
        world.adjust(id, -1).await;
    }
    for id in &ids {
        let (view, redis) = world.wait_for_version(id, 6).await;
        assert_eq!(view.stock, 95);
        assert_eq!(redis, view);
    }
    world.wait_for_quiescence().await;
    assert_eq!(world.verify().await, Vec::<String>::new());
}

/// Lock requests on `product_view` in the test's database still waiting: the rebuild's
/// EXCLUSIVE one when `exclusive`, the others (the live consumer's writes) otherwise.
async fn waiting_for_product_view(pool: &PgPool, exclusive: bool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks \
         WHERE NOT granted AND relation = 'product_view'::regclass \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND (mode = 'ExclusiveLock') = $1",
    )
    .bind(exclusive)
    .fetch_one(pool)
    .await
    .unwrap()
}
