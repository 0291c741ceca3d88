//! An installation of an earlier release upgrades to this one while it serves: the new
//! projector builds this release's read-model generation beside the live one, catches up,
//! switches query-api over, and `retire` drops the older generations, with no read failing on
//! the way. From v1 (generation 1, skipping generation 2) and from Catalog 2's first part
//! (generation 2).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use catalog_read_model::generation::{self, GENERATION};
use catalog_read_model::listing::ListQuery;
use projector::rebuild::{rebuild, Target};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::PgPool;

use crate::helpers::*;

/// The migrations an earlier release ran: those before the one named `first_new`.
async fn migrations_before(first_new: &str) -> Migrator {
    let all = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"));
    let earlier = std::env::temp_dir().join(format!(
        "catalog-migrations-before-{first_new}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&earlier).unwrap();
    for entry in std::fs::read_dir(all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.as_str() < first_new {
            std::fs::copy(&path, earlier.join(&name)).unwrap();
        }
    }
    // The migrator reads the files as it is made: the copies can go at once.
    let migrator = Migrator::new(earlier.as_path()).await.unwrap();
    std::fs::remove_dir_all(&earlier).unwrap();
    migrator
}

/// What an earlier release's projector had left in the tables of `schema` for the events
/// stored: today's fold, without the document's fields it did not know.
async fn earlier_read_model(pool: &PgPool, schema: &str, unknown: &[&str]) {
    let pool = generation::pool_in(pool, schema);
    let redis = catalog_read_model::redis::RedisReadModel::new(
        &catalog_support::config::RedisSettings::direct(REDIS_URL),
        "unused",
        Duration::from_secs(2),
    )
    .unwrap();
    rebuild(
        &pool,
        &redis,
        &catalog_domain::Schema::default(),
        Target::Postgres,
        false,
    )
    .await
    .unwrap();
    let unknown: Vec<String> = unknown.iter().map(|field| format!("'{field}'")).collect();
    sqlx::query(&format!(
        "UPDATE product_view SET doc = doc - {}",
        unknown.join(" - ")
    ))
    .execute(&pool)
    .await
    .unwrap();
}

/// A query-api and a relay on `pool`, which holds an earlier release's installation.
async fn serving(pool: &PgPool) -> World {
    let options = Options {
        query_api: true,
        ..Options::new(true, false)
    };
    World::start(pool.clone(), options).await
}

#[sqlx::test(migrations = false)]
async fn a_v1_installation_switches_to_this_generation_under_load_without_a_failed_read(
    pool: PgPool,
) {
    // Given a v1 installation: v1's schema, v1 events, generation 1 filled
    migrations_before("20261202000011")
        .await
        .run(&pool)
        .await
        .unwrap();
    seed_v1_events(&pool, 200, 3).await;
    earlier_read_model(
        &pool,
        "public",
        &["type", "locale", "translations", "variants"],
    )
    .await;
    // When it is migrated to this release
    catalog_support::db::MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(generation::live(&pool).await.unwrap(), Some(1));
    assert_eq!(
        generation::state(&pool, GENERATION)
            .await
            .unwrap()
            .as_deref(),
        Some("building")
    );
    // The generation between, which no projector will build, is left to retire
    assert_eq!(
        generation::state(&pool, 2).await.unwrap().as_deref(),
        Some("retiring")
    );

    // Then query-api serves generation 1 until this release's is live
    let world = serving(&pool).await;
    let before = world
        .read(&format!("/products/{}", seeded_id(7)), None)
        .await;
    assert_eq!(before.status(), StatusCode::OK);
    let before: Value = before.json().await.unwrap();
    assert_eq!(before["name"], "Product 7");
    assert!(before.get("translations").is_none(), "{before}");

    // While commands and reads keep flowing, this release's projector builds and switches
    switch_under_load(&pool, &world).await;
    // When generations 1 and 2 are retired, they are gone and reads go on
    retire(&pool, &world, &[1, 2]).await;
    let table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('public.product_view')::text")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(table, None);
}

#[sqlx::test(migrations = false)]
async fn a_generation_2_installation_switches_to_this_generation_under_load_without_a_failed_read(
    pool: PgPool,
) {
    // Given an installation of Catalog 2's first part: generation 2 live and filled, without
    // variants
    migrations_before("20261202000011")
        .await
        .run(&pool)
        .await
        .unwrap();
    seed_v1_events(&pool, 200, 3).await;
    migrations_before("20261203000012")
        .await
        .run(&pool)
        .await
        .unwrap();
    earlier_read_model(&pool, "read_model_2", &["variants"]).await;
    let mut conn = pool.acquire().await.unwrap();
    generation::mark_built(&mut conn, 2, 0).await.unwrap();
    drop(conn);
    assert!(generation::go_live(&pool, 2).await.unwrap());
    // When it is migrated to this release
    catalog_support::db::MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(generation::live(&pool).await.unwrap(), Some(2));
    assert_eq!(
        generation::state(&pool, GENERATION)
            .await
            .unwrap()
            .as_deref(),
        Some("building")
    );
    // Then query-api serves generation 2's documents until this release's is live
    let world = serving(&pool).await;
    let before = world
        .read(&format!("/products/{}", seeded_id(7)), None)
        .await;
    assert_eq!(before.status(), StatusCode::OK);
    let before: Value = before.json().await.unwrap();
    assert_eq!(before["translations"]["name"]["en"], "Product 7");
    assert!(before.get("variants").is_none(), "{before}");
    assert_eq!(before["price"]["amount"], 7);

    switch_under_load(&pool, &world).await;
    retire(&pool, &world, &[1, 2]).await;
    let schema: Option<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname = 'read_model_2'")
            .fetch_optional(&pool)
            .await
            .unwrap();
    assert_eq!(schema, None);
}

/// Starts this release's projector while commands and reads keep flowing, waits for its
/// generation to go live, and checks that no read failed and that the new generation holds
/// every write in the new shape.
async fn switch_under_load(pool: &PgPool, world: &World) {
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let readers: Vec<_> = (0..2)
        .map(|reader| {
            let (base, _) = world.query.clone().unwrap();
            let (stop, reads, failed) = (stop.clone(), reads.clone(), failed.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let path = match n % 3 {
                        0 => "/products?limit=20&sort=name".to_string(),
                        1 => format!("/products/{}", seeded_id((n * 7 + reader) % 200 + 1)),
                        _ => "/products?q=Product&limit=5".to_string(),
                    };
                    let status = client
                        .get(format!("{base}{path}"))
                        .send()
                        .await
                        .map(|r| r.status());
                    reads.fetch_add(1, Ordering::Relaxed);
                    if status.as_ref().ok() != Some(&StatusCode::OK) {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("{path}: {status:?}");
                    }
                }
            })
        })
        .collect();
    let writer = {
        let stop = stop.clone();
        async move {
            let mut versions = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = seeded_id(n % 200 + 1);
                versions.push((id.clone(), world.adjust(&id, 1).await));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            versions
        }
    };
    let switch = async {
        // A product type defined meanwhile: its events are no product's, and must not hold the
        // switch back.
        let defined = world
            .client
            .put(format!("{}/product-types/mug", world.base))
            .bearer_auth(world.token_for("admin", "catalog:admin"))
            .json(&serde_json::json!({"name": "Mug", "attributes": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(defined.status(), StatusCode::CREATED);
        world.start_projector();
        let live = eventually(Duration::from_secs(60), || async {
            (generation::live(pool).await.ok()?? == GENERATION).then_some(())
        })
        .await;
        // Some reads after the switch, still under load.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        live
    };
    let (versions, live) = tokio::join!(writer, switch);
    for reader in readers {
        reader.await.unwrap();
    }
    assert!(live.is_some(), "generation {GENERATION} did not go live");
    println!(
        "{} reads and {} commands across the switch",
        reads.load(Ordering::Relaxed),
        versions.len()
    );
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "reads failed during the switch"
    );

    // And this generation holds every write, in the new shape, for query-api too
    world.wait_for_quiescence().await;
    assert_eq!(world.verify().await, Vec::<String>::new());
    let (id, version) = versions.last().cloned().expect("the writer wrote");
    let after = world
        .read(&format!("/products/{id}?min_version={version}"), None)
        .await;
    assert_eq!(after.status(), StatusCode::OK);
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["version"], version);
    assert_eq!(after["locale"], "en");
    assert_eq!(after["translations"]["name"]["en"], after["name"]);
    assert_eq!(after["variants"][0]["id"], "master");
    assert_eq!(after["variants"][0]["stock"], after["stock"]);

    // query-api's facet index waited for this generation, and loads it once live: its counts
    // are PostgreSQL's.
    let index = world.query.as_ref().unwrap().1.facets.clone().unwrap();
    let loaded = eventually(Duration::from_secs(30), || async {
        index.is_ready().then_some(())
    });
    assert!(
        loaded.await.is_some(),
        "the facet index loads generation {GENERATION}"
    );
    let lists = generation::pool_in(pool, generation::LIVE_SCHEMA);
    let query = ListQuery::parse(Some("facets=status,category")).unwrap();
    let memory = query.run(&lists, Some(&index)).await.unwrap().facets;
    let statement = query.run(&lists, None).await.unwrap().facets;
    assert!(
        memory
            .as_ref()
            .is_some_and(|facets| !facets["status"].is_empty()),
        "{memory:?}"
    );
    assert_eq!(memory, statement);
}

/// `projector retire`, which must drop `expected`; reads go on afterwards.
async fn retire(pool: &PgPool, world: &World, expected: &[i32]) {
    let retired = projector::generation::retire(
        pool,
        &catalog_support::config::RedisSettings::direct(REDIS_URL),
        &world.namespace,
        &world.topology(),
        &world.amqp_url,
    )
    .await
    .unwrap();
    assert_eq!(retired, expected);
    assert_eq!(
        world
            .read(&format!("/products/{}", seeded_id(7)), None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        world.read("/products?limit=5", None).await.status(),
        StatusCode::OK
    );
}
