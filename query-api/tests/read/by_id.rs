use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_client_reads_its_own_write_with_min_version(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let id = world.create("RYW-1").await;
    let response = world
        .read(&format!("/products/{id}?min_version=1"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sku"], "RYW-1");
    assert_eq!(body["status"], "draft");
    assert_eq!(body["stock"], 100);
    assert_eq!(body["price"], json!({"amount": 500, "currency": "EUR"}));
    assert_eq!(body["images"], json!([]));
    for field in [
        "id",
        "name",
        "description",
        "category",
        "attributes",
        "version",
        "created_at",
        "updated_at",
    ] {
        assert!(body.get(field).is_some(), "{field} missing");
    }

    // Each write is readable at once by asking for its version.
    for round in 0..5 {
        let version = world.adjust(&id, -1).await;
        let response = world
            .read(&format!("/products/{id}?min_version={version}"), None)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "round {round}");
        let body: Value = response.json().await.unwrap();
        assert!(body["version"].as_u64().unwrap() >= version);
        assert_eq!(body["stock"], 100 - 1 - round);
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_matching_if_none_match_gives_304(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let id = world.create("ETAG-1").await;
    world.wait_for_version(&id, 1).await;
    let (base, _) = world.query.as_ref().unwrap();
    let url = format!("{base}/products/{id}");
    let cached = world
        .client
        .get(&url)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"], "\"1\"");
    assert!(cached.bytes().await.unwrap().is_empty());

    world.adjust(&id, 1).await;
    world.wait_for_version(&id, 2).await;
    let changed = world
        .client
        .get(&url)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.headers()["etag"], "\"2\"");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn unknown_products_are_404_and_unreached_versions_503(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    for path in [
        "/products/0190f0a4-0000-7000-8000-000000000000",
        "/products/not-an-id",
    ] {
        let response = world.read(path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let id = world.create("LATER-1").await;
    world.wait_for_version(&id, 1).await;
    let started = Instant::now();
    let response = world
        .read(&format!("/products/{id}?min_version=5"), None)
        .await;
    let waited = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    // It waited for the version before giving up, rather than answering at once.
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    let bad = world
        .read(&format!("/products/{id}?min_version=zero"), None)
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn many_concurrent_misses_of_one_product_load_it_once(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let id = world.create("FLIGHT-1").await;
    world.wait_for_version(&id, 1).await;
    world.redis.delete_all().await.unwrap();
    let (_, state) = world.query.as_ref().unwrap();
    let before = state.reader.postgres_loads.load(Ordering::Relaxed);

    let path = format!("/products/{id}");
    let responses = futures::future::join_all((0..200).map(|_| world.read(&path, None))).await;
    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));
    let loads = state.reader.postgres_loads.load(Ordering::Relaxed) - before;
    assert_eq!(loads, 1, "200 concurrent misses, {loads} PostgreSQL loads");
    // The load refilled the cache.
    assert_eq!(world.redis_view(&id).await.unwrap().version, 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn with_redis_unreachable_reads_come_from_postgres(pool: PgPool) {
    let options = Options {
        query_redis_url: Some("redis://127.0.0.1:1".to_string()),
        ..Options::everything()
    };
    let world = World::start(pool, options).await;
    let id = world.create("DEGRADED-1").await;
    world
        .send(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({"name": "Still here"})),
        )
        .await;
    let response = world
        .read(&format!("/products/{id}?min_version=2"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["name"],
        "Still here"
    );
    let list = world.read("/products", None).await;
    assert_eq!(list.status(), StatusCode::OK);
    assert_eq!(
        list.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let ready = world.read("/health/ready", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    let checks = ready.json::<Value>().await.unwrap()["checks"].clone();
    assert_eq!(
        checks,
        json!({"postgres": "up", "redis": "degraded", "blobs": "up"})
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn hot_reads_come_from_the_local_cache_until_the_product_moves(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let id = world.create("LOCAL-1").await;
    world.wait_for_version(&id, 1).await;
    let (_, state) = world.query.as_ref().unwrap();
    let path = format!("/products/{id}");
    // Kept once the version subscription is up (the process starts it in the background).
    eventually(Duration::from_secs(10), || async {
        assert_eq!(world.read(&path, None).await.status(), StatusCode::OK);
        state.reader.local.get(&id)
    })
    .await
    .expect("the read was kept locally");

    // Redis changed behind the projector's back, at the same version (so nothing announced):
    // the local copy answers, proving reads no longer reach Redis.
    let key = world.redis.key(&id);
    let mut redis = world
        .redis
        .client()
        .await
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut doc: Value = serde_json::from_str(
        &redis::cmd("HGET")
            .arg(&key)
            .arg("doc")
            .query_async::<String>(&mut redis)
            .await
            .unwrap(),
    )
    .unwrap();
    doc["name"] = json!("changed in Redis only");
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("doc")
        .arg(doc.to_string())
        .query_async(&mut redis)
        .await
        .unwrap();
    let body: Value = world.read(&path, None).await.json().await.unwrap();
    assert_ne!(body["name"], "changed in Redis only");
    assert_eq!(body["version"], 1);

    // A new version is announced by the projector: the stale copy is never served again.
    let version = world.adjust(&id, -1).await;
    let seen = eventually(Duration::from_secs(10), || async {
        let response = world.read(&path, None).await;
        let etag = response.headers()["etag"].to_str().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        (body["version"] == version).then_some((etag, body))
    })
    .await
    .expect("the new version became visible");
    assert_eq!(seen.0, format!("\"{version}\""));
    assert_eq!(seen.1["stock"], 99);
}
