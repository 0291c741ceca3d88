//! Webhook subscriptions (`/subscriptions`, scope `catalog:admin`): saved, shown without their
//! secret, refused when their URL reaches inward, removed.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let admin = app.token_for("admin", "catalog:admin");
    let request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(admin);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_subscription_is_saved_shown_without_its_secret_and_removed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // An address literal outside every internal range: checked without a DNS lookup.
    let body = json!({"url": "https://93.184.216.34/hook", "secret": "s3cret", "types": ["StockAdjusted"]});
    let writer = app.token_for("w", "catalog:write");
    let denied = app
        .client
        .put(format!("{}/subscriptions/erp", app.base))
        .bearer_auth(writer)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);

    let created = call(&app, Method::PUT, "/subscriptions/erp", Some(body.clone())).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["status"], "active");
    assert_eq!(created["types"], json!(["StockAdjusted"]));
    assert!(created.get("secret").is_none());
    assert!(!created.to_string().contains("s3cret"));

    let replay =
        json!({"url": "https://93.184.216.34/hook", "secret": "s3cret", "from_position": 0});
    let changed = call(&app, Method::PUT, "/subscriptions/erp", Some(replay)).await;
    assert_eq!(changed.status(), StatusCode::OK);
    let shown: Value = call(&app, Method::GET, "/subscriptions/erp", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["delivered_position"], 0);
    assert_eq!(shown["types"], json!([]));
    assert!(!shown.to_string().contains("s3cret"));
    let list: Value = call(&app, Method::GET, "/subscriptions", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["name"], "erp");

    let removed = call(&app, Method::DELETE, "/subscriptions/erp", None).await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::DELETE] {
        let gone = call(&app, method, "/subscriptions/erp", None).await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_subscription_to_an_internal_address_or_with_bad_values_is_422_and_not_saved(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    for (body, fields) in [
        (
            json!({"url": "http://127.0.0.1:9000/hook", "secret": "s"}),
            vec!["url"],
        ),
        (
            json!({"url": "http://169.254.169.254/latest", "secret": "s"}),
            vec!["url"],
        ),
        (
            json!({"url": "http://[::1]/hook", "secret": "s"}),
            vec!["url"],
        ),
        (
            json!({"url": "ftp://93.184.216.34/x", "secret": ""}),
            vec!["url", "secret"],
        ),
        (
            json!({"url": "https://93.184.216.34/hook", "secret": "s", "types": ["Nope"], "from_position": -1}),
            vec!["types", "from_position"],
        ),
    ] {
        let refused = call(&app, Method::PUT, "/subscriptions/bad", Some(body.clone())).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem: Value = refused.json().await.unwrap();
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, fields, "{body}");
    }
    let saved: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_subscriptions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(saved, 0);
}
