use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_client_over_its_limit_gets_429_with_retry_after(pool: PgPool) {
    let app = TestApp::spawn_with(
        pool,
        &[("RATE_LIMIT_PER_SECOND", "0.01"), ("RATE_LIMIT_BURST", "3")],
    )
    .await;
    let id = app.create_product("RL-1").await; // 1 of 3
    assert_eq!(app.adjust_stock(&id, 1).await.status(), StatusCode::OK);
    assert_eq!(app.adjust_stock(&id, 1).await.status(), StatusCode::OK);
    let limited = app.adjust_stock(&id, 1).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&retry_after), "{retry_after}");
    let problem = assert_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem["type"], "urn:catalog:problem:rate-limited");
    assert_eq!(
        app.events(&id).await.len(),
        3,
        "the refused command wrote nothing"
    );

    // The limit is per client: another subject is not affected.
    let other = app.token_for("someone-else", "catalog:write");
    let response = app
        .client
        .post(format!("{}/products/{id}/stock-adjustments", app.base))
        .bearer_auth(other)
        .json(&serde_json::json!({"delta": 1, "reason": "r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn two_replicas_share_one_limit(pool: PgPool) {
    let namespace = format!("t{}", uuid::Uuid::new_v4().simple());
    let settings = [
        ("RATE_LIMIT_PER_SECOND", "0.01"),
        ("RATE_LIMIT_BURST", "4"),
        ("CATALOG_NAMESPACE", namespace.as_str()),
    ];
    let first = TestApp::spawn_with(pool.clone(), &settings).await;
    let second = TestApp::spawn_with(pool, &settings).await;
    let id = first.create_product("RL-2").await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let replica = if i % 2 == 0 { &second } else { &first };
        statuses.push(replica.adjust_stock(&id, 1).await.status());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 3, "4 in all across both replicas: {statuses:?}");
    assert!(statuses[3..]
        .iter()
        .all(|s| *s == StatusCode::TOO_MANY_REQUESTS));
}

/// One command an hour (1/3600 per second) and a burst of one: a working limiter refuses
/// every command after a client's first for the rest of any test.
const ONE_PER_HOUR: [(&str, &str); 2] = [
    ("RATE_LIMIT_PER_SECOND", "0.00027778"),
    ("RATE_LIMIT_BURST", "1"),
];

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn one_command_per_hour_refuses_the_second(pool: PgPool) {
    let app = TestApp::spawn_with(pool, &ONE_PER_HOUR).await;
    let id = app.create_product("RL-4").await;
    let refused = app.adjust_stock(&id, 1).await;
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        app.events(&id).await.len(),
        1,
        "only the creation was stored"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_unreachable_redis_lets_commands_through(pool: PgPool) {
    // The limit `one_command_per_hour_refuses_the_second` enforces: with Redis unreachable,
    // only failing open lets every command below through.
    let mut settings = vec![("REDIS_URL", "redis://127.0.0.1:1")];
    settings.extend_from_slice(&ONE_PER_HOUR);
    let app = TestApp::spawn_with(pool, &settings).await;
    let id = app.create_product("RL-3").await;
    for _ in 0..3 {
        assert_eq!(app.adjust_stock(&id, 1).await.status(), StatusCode::OK);
    }
    assert_eq!(app.events(&id).await.len(), 4, "every command was stored");
}
