use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

async fn version_of(response: reqwest::Response) -> (Option<String>, Value) {
    let tag = etag(&response);
    (tag, response.json().await.unwrap())
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn patching_details_returns_the_new_version_and_records_the_change(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("P-1").await;
    let response = app
        .send(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({"name": "Tea cup", "category": null, "attributes": {"size": "L"}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (tag, body) = version_of(response).await;
    assert_eq!(tag.as_deref(), Some("\"2\""));
    assert_eq!(body, json!({"id": id, "version": 2}));
    let events = app.events(&id).await;
    let updated = &events[1].2["DetailsUpdated"];
    assert_eq!(updated["name"], json!({"en": "Tea cup"}));
    assert_eq!(
        updated["description"],
        json!({"en": "Porcelain, 80 ml"}),
        "untouched fields stay"
    );
    assert_eq!(updated["category"], Value::Null, "null clears a field");
    assert_eq!(updated["attributes"], json!({"size": "L"}));
    assert_eq!(
        updated["changed"],
        json!(["name", "category", "attributes"])
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_patch_that_changes_nothing_keeps_the_version(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("P-2").await;
    let response = app
        .send(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({"name": "Espresso cup"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(version_of(response).await.1["version"], 1);
    assert_eq!(app.events(&id).await.len(), 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn invalid_patches_are_422(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("P-3").await;
    let path = format!("/products/{id}");
    for (body, field) in [
        (json!({}), "body"),
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"description": "d".repeat(5001)}), "description"),
        (json!({"category": "c".repeat(101)}), "category"),
        (
            json!({"attributes": {"k": "v".repeat(1001)}}),
            "attributes.k",
        ),
    ] {
        let problem = assert_problem(
            app.send(Method::PATCH, &path, Some(body.clone())).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    assert_problem(
        app.send(Method::PATCH, &path, Some(json!({"name": 5})))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(app.events(&id).await.len(), 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn commands_to_an_unknown_product_are_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let unknown = uuid::Uuid::now_v7();
    let cases = [
        (
            Method::PATCH,
            format!("/products/{unknown}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::PUT,
            format!("/products/{unknown}/price"),
            Some(json!({"amount": 1, "currency": "EUR"})),
        ),
        (
            Method::POST,
            format!("/products/{unknown}/stock-adjustments"),
            Some(json!({"delta": 1, "reason": "r"})),
        ),
        (Method::POST, format!("/products/{unknown}/publish"), None),
        (Method::POST, format!("/products/{unknown}/unpublish"), None),
        (Method::DELETE, format!("/products/{unknown}"), None),
        (
            Method::DELETE,
            format!("/products/{unknown}/images/img-1"),
            None,
        ),
        (
            Method::POST,
            "/products/not-a-uuid/publish".to_string(),
            None,
        ),
    ];
    for (method, path, body) in cases {
        let response = app.send(method.clone(), &path, body).await;
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(app.event_count().await, 0);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn changing_the_price_records_old_and_new(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("PR-1").await;
    let path = format!("/products/{id}/price");
    let response = app
        .send(
            Method::PUT,
            &path,
            Some(json!({"amount": 1499, "currency": "EUR"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response).as_deref(), Some("\"2\""));
    let events = app.events(&id).await;
    assert_eq!(
        events[1].2["PriceChanged"],
        json!({"price": {"amount": 1499, "currency": "EUR"}, "previous": {"amount": 1299, "currency": "EUR"}})
    );
    for (body, fields) in [
        (json!({"amount": -1, "currency": "EUR"}), vec!["amount"]),
        (json!({"amount": 5, "currency": "XXQ"}), vec!["currency"]),
        (json!({"currency": "EUR"}), vec!["amount"]),
        (json!({}), vec!["amount", "currency"]),
    ] {
        let problem = assert_problem(
            app.send(Method::PUT, &path, Some(body.clone())).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&problem), fields, "{body}");
    }
    assert_problem(
        app.send(
            Method::PUT,
            &path,
            Some(json!({"amount": "5", "currency": "EUR"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(app.events(&id).await.len(), 2);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn stock_adjustments_never_take_stock_below_zero(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("ST-1").await; // stock 10
    let response = app.adjust_stock(&id, -4).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(version_of(response).await.1["version"], 2);
    assert_eq!(app.events(&id).await[1].2["StockAdjusted"]["stock"], 6);

    let problem = assert_problem(app.adjust_stock(&id, -7).await, StatusCode::CONFLICT).await;
    assert_eq!(problem["type"], "urn:catalog:problem:insufficient-stock");
    assert_eq!(app.adjust_stock(&id, -6).await.status(), StatusCode::OK);
    assert_eq!(app.events(&id).await[2].2["StockAdjusted"]["stock"], 0);

    let path = format!("/products/{id}/stock-adjustments");
    for (body, fields) in [
        (json!({"delta": 0, "reason": "r"}), vec!["delta"]),
        (json!({"delta": 1, "reason": ""}), vec!["reason"]),
        (
            json!({"delta": 1, "reason": "r".repeat(201)}),
            vec!["reason"],
        ),
        (json!({}), vec!["delta", "reason"]),
    ] {
        let problem = assert_problem(
            app.send(Method::POST, &path, Some(body.clone())).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&problem), fields, "{body}");
    }
    assert_problem(
        app.send(
            Method::POST,
            &path,
            Some(json!({"delta": 1.5, "reason": "r"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(app.events(&id).await.len(), 3);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn publishing_and_unpublishing_follow_the_lifecycle(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("PUB-1").await;
    let publish = format!("/products/{id}/publish");
    let unpublish = format!("/products/{id}/unpublish");

    let problem = assert_problem(
        app.send(Method::POST, &unpublish, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(problem["type"], "urn:catalog:problem:not-published");
    let response = app.send(Method::POST, &publish, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response).as_deref(), Some("\"2\""));
    let problem = assert_problem(
        app.send(Method::POST, &publish, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(problem["type"], "urn:catalog:problem:already-published");
    let response = app.send(Method::POST, &unpublish, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(version_of(response).await.1["version"], 3);

    let types: Vec<String> = app.events(&id).await.into_iter().map(|e| e.1).collect();
    assert_eq!(
        types,
        ["ProductCreated", "ProductPublished", "ProductUnpublished"]
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_archived_product_accepts_no_command(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("ARC-1").await;
    let response = app
        .send(Method::DELETE, &format!("/products/{id}"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        version_of(response).await.1,
        json!({"id": id, "version": 2})
    );
    let cases = [
        (
            Method::PATCH,
            format!("/products/{id}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::PUT,
            format!("/products/{id}/price"),
            Some(json!({"amount": 1, "currency": "EUR"})),
        ),
        (
            Method::POST,
            format!("/products/{id}/stock-adjustments"),
            Some(json!({"delta": 1, "reason": "r"})),
        ),
        (Method::POST, format!("/products/{id}/publish"), None),
        (Method::POST, format!("/products/{id}/unpublish"), None),
        (Method::DELETE, format!("/products/{id}"), None),
        (Method::DELETE, format!("/products/{id}/images/img-1"), None),
    ];
    for (method, path, body) in cases {
        let problem = assert_problem(
            app.send(method.clone(), &path, body).await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(
            problem["type"], "urn:catalog:problem:product-archived",
            "{method} {path}"
        );
    }
    assert_eq!(app.events(&id).await.len(), 2, "events are never deleted");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn image_routes_exist_and_unknown_images_are_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IMG-1").await;
    let upload = app
        .request(Method::POST, &format!("/products/{id}/images"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_problem(upload, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let problem = assert_problem(
        app.send(Method::DELETE, &format!("/products/{id}/images/nope"), None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(problem["detail"], "image not found");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn if_match_with_a_stale_version_is_412_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("IFM-1").await;
    assert_eq!(app.adjust_stock(&id, 1).await.status(), StatusCode::OK); // version 2
    let path = format!("/products/{id}/stock-adjustments");
    let stale = app
        .request(Method::POST, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"delta": 1, "reason": "r"}))
        .send()
        .await
        .unwrap();
    // The answer names the current version, so a client can retry against it at once.
    assert_eq!(stale.headers()["etag"], "\"2\"");
    let problem = assert_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(problem["current_version"], 2);
    assert_eq!(app.events(&id).await.len(), 2);

    let current = app
        .request(Method::POST, &path)
        .header("if-match", "\"2\"")
        .json(&json!({"delta": 1, "reason": "r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), StatusCode::OK);
    assert_eq!(etag(&current).as_deref(), Some("\"3\""));

    for method_path in [
        (Method::POST, format!("/products/{id}/publish")),
        (Method::DELETE, format!("/products/{id}")),
    ] {
        let response = app
            .request(method_path.0, &method_path.1)
            .header("if-match", "\"2\"")
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::PRECONDITION_FAILED).await;
    }
    let malformed = app
        .request(Method::POST, &format!("/products/{id}/publish"))
        .header("if-match", "version-three")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.events(&id).await.len(), 3);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn unknown_routes_and_methods_answer_in_problem_json(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    assert_problem(
        app.send(Method::GET, "/nope", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.send(Method::GET, "/products", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn health_endpoints_answer(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let live = app
        .client
        .get(format!("{}/health/live", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app
        .client
        .get(format!("{}/health/ready", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["checks"]["postgres"],
        "up"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_product_with_many_events_loads_from_its_snapshot_correctly(pool: PgPool) {
    let app = TestApp::spawn_with(pool, &[("SNAPSHOT_EVERY", "10")]).await;
    let id = app.create_product("SNAP-1").await; // stock 10, version 1
    let mut expected = 10;
    for i in 0..34 {
        let delta = if i % 3 == 0 { -2 } else { 3 };
        assert_eq!(app.adjust_stock(&id, delta).await.status(), StatusCode::OK);
        expected += delta;
    }
    let (last_sequence, state): (i64, Value) =
        sqlx::query_as("SELECT last_sequence, payload FROM snapshots WHERE aggregate_id = $1")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .expect("a snapshot was written");
    assert_eq!(last_sequence, 30, "snapshots are taken every 10 events");
    // The snapshot holds exactly the first 30 events' state: no event applied twice.
    let replayed: i64 = app.events(&id).await[29].2["StockAdjusted"]["stock"]
        .as_i64()
        .unwrap();
    assert_eq!(state["variants"][0]["stock"].as_i64().unwrap(), replayed);

    // Loading from snapshot + later events gives the replayed state: stock can go exactly to 0.
    let too_much = app.adjust_stock(&id, -(expected + 1)).await;
    assert_eq!(too_much.status(), StatusCode::CONFLICT);
    let exact = app.adjust_stock(&id, -expected).await;
    assert_eq!(exact.status(), StatusCode::OK);
    assert_eq!(version_of(exact).await.1["version"], 36);
}

#[tokio::test]
async fn an_unreachable_database_gives_503_with_retry_after() {
    // Port 1 on loopback: nothing listens, so every connection attempt is refused.
    let pool = catalog_support::db::pool("postgres://postgres@127.0.0.1:1/catalog", 2).unwrap();
    let app = TestApp::spawn(pool).await;
    let response = app.create(product_body("DOWN-1")).await;
    assert!(response.headers().contains_key("retry-after"));
    let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(!problem["detail"].as_str().unwrap().contains("127.0.0.1"));
    let adjust = app.adjust_stock(&uuid::Uuid::now_v7().to_string(), 1).await;
    assert_problem(adjust, StatusCode::SERVICE_UNAVAILABLE).await;
    let ready = app
        .client
        .get(format!("{}/health/ready", app.base))
        .send()
        .await
        .unwrap();
    assert_problem(ready, StatusCode::SERVICE_UNAVAILABLE).await;
}
