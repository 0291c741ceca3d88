use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn creating_a_product_returns_201_with_location_etag_and_version_1(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app.create(product_body("CUP-1")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(etag(&response).as_deref(), Some("\"1\""));
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(location, format!("/products/{id}"));
    assert!(uuid::Uuid::parse_str(id).is_ok());
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_created_event_holds_the_product_and_its_metadata(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app
        .request(Method::POST, "/products")
        .header("x-request-id", "req-123")
        .header("x-correlation-id", "corr-9")
        .json(&product_body("CUP-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let events = app.events(&id).await;
    assert_eq!(events.len(), 1);
    let (sequence, event_type, payload, metadata) = &events[0];
    assert_eq!(*sequence, 1);
    assert_eq!(event_type, "ProductCreated");
    let created = &payload["ProductCreated"];
    assert_eq!(created["sku"], "CUP-2");
    assert_eq!(created["name"], json!({"en": "Espresso cup"}));
    assert_eq!(created["price"], json!({"amount": 1299, "currency": "EUR"}));
    assert_eq!(created["stock"], 10);
    assert_eq!(created["attributes"], json!({"color": "white"}));
    assert_eq!(metadata["actor"], "tester");
    assert_eq!(metadata["request_id"], "req-123");
    assert_eq!(metadata["correlation_id"], "corr-9");
    assert_eq!(metadata["causation_id"], "req-123");

    let (position, recorded): (i64, bool) = sqlx::query_as(
        "SELECT position, recorded_at <= now() + interval '1 second' AND transaction_id IS NOT NULL \
         FROM events WHERE aggregate_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(position > 0 && recorded);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_product_without_stock_starts_at_zero(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app
        .create(json!({"sku": "S-0", "name": "N", "price": {"amount": 0, "currency": "USD"}}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let events = app.events(&id).await;
    assert_eq!(events[0].2["ProductCreated"]["stock"], 0);
    assert_eq!(
        app.adjust_stock(&id, -1).await.status(),
        StatusCode::CONFLICT
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn missing_required_fields_are_all_reported_as_422(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let problem = assert_problem(
        app.create(json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["name", "price", "sku"]);
    let problem = assert_problem(
        app.create(json!({"sku": "A", "name": "B", "price": {"amount": 5}}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["price.currency"]);
    assert_eq!(app.event_count().await, 0);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn every_broken_rule_is_reported_as_422_with_its_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let attributes: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let problem = assert_problem(
        app.create(json!({
            "sku": "bad sku",
            "name": "x".repeat(201),
            "description": "d".repeat(5001),
            "price": {"amount": 1_000_000_000_001i64, "currency": "eur"},
            "stock": -1,
            "category": "c".repeat(101),
            "attributes": attributes,
        }))
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error_fields(&problem),
        [
            "attributes",
            "category",
            "description",
            "name",
            "price.amount",
            "price.currency",
            "sku",
            "stock"
        ]
    );
    assert_eq!(app.event_count().await, 0);
    let reservations: i64 = sqlx::query_scalar("SELECT count(*) FROM sku_reservations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reservations, 0, "an invalid create reserves nothing");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn values_at_the_limits_are_accepted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let attributes: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("{i:0>100}"), json!("v".repeat(1000))))
        .collect();
    let response = app
        .create(json!({
            "sku": "a".repeat(64),
            "name": "é".repeat(200),
            "description": "d".repeat(5000),
            "price": {"amount": 1_000_000_000_000i64, "currency": "JPY"},
            "category": "c".repeat(100),
            "attributes": attributes,
        }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn malformed_json_and_wrong_types_are_400(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let malformed = app
        .request(Method::POST, "/products")
        .header("content-type", "application/json")
        .body("{\"sku\": ")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, StatusCode::BAD_REQUEST).await;
    for wrong in [
        json!({"sku": 12, "name": "n", "price": {"amount": 1, "currency": "EUR"}}),
        json!({"sku": "s", "name": "n", "price": {"amount": 19.99, "currency": "EUR"}}),
        json!({"sku": "s", "name": "n", "price": "19.99 EUR"}),
        json!({"sku": "s", "name": "n", "price": {"amount": 1, "currency": "EUR"}, "attributes": {"a": 1}}),
        json!({"sku": "s", "name": "n", "price": {"amount": 1, "currency": "EUR"}, "stock": "3"}),
        json!([1, 2]),
    ] {
        let response = app.create(wrong.clone()).await;
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.event_count().await, 0);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_body_that_is_not_json_is_415(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app
        .request(Method::POST, "/products")
        .header("content-type", "text/plain")
        .body(product_body("T-1").to_string())
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_body_over_one_mebibyte_is_413(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut body = product_body("BIG-1");
    body["description"] = json!("d".repeat(1024 * 1024));
    assert_problem(app.create(body).await, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(app.event_count().await, 0);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn creating_a_product_with_a_taken_sku_returns_409(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_product("DUP-1").await;
    let problem = assert_problem(
        app.create(product_body("DUP-1")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(problem["type"], "urn:catalog:problem:sku-taken");
    assert_eq!(app.event_count().await, 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_sku_of_an_archived_product_can_be_reused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("REUSE-1").await;
    let archived = app
        .send(Method::DELETE, &format!("/products/{id}"), None)
        .await;
    assert_eq!(archived.status(), StatusCode::OK);
    let second = app.create(product_body("REUSE-1")).await;
    assert_eq!(second.status(), StatusCode::CREATED);
    // ...and is taken again by the new product.
    assert_eq!(
        app.create(product_body("REUSE-1")).await.status(),
        StatusCode::CONFLICT
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn two_concurrent_creates_of_one_sku_give_one_201_and_one_409(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for round in 0..5 {
        let sku = format!("RACE-{round}");
        let (a, b) = tokio::join!(
            app.create(product_body(&sku)),
            app.create(product_body(&sku))
        );
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "{sku}"
        );
    }
    let created: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'ProductCreated'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(created, 5);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_create_whose_event_cannot_be_stored_leaves_no_reservation(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // Make the event store refuse this one product, as a failing disk or constraint would.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.payload->'ProductCreated'->>'sku' = 'DOOMED' THEN \
           RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_doomed BEFORE INSERT ON events \
           FOR EACH ROW EXECUTE FUNCTION refuse_doomed();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let failed = app.create(product_body("DOOMED")).await;
    assert_problem(failed, StatusCode::INTERNAL_SERVER_ERROR).await;
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sku_reservations WHERE sku = 'DOOMED'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "the reservation was compensated");

    sqlx::raw_sql("DROP TRIGGER refuse_doomed ON events")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        app.create(product_body("DOOMED")).await.status(),
        StatusCode::CREATED
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_create_whose_store_cannot_answer_keeps_its_reservation(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // The store answers as a server going away does: the outcome of the append is unknown, as
    // when a commit's answer is lost with its connection, so the SKU must stay reserved (a
    // product may hold it) until the reclaim finds that none does.
    sqlx::raw_sql(
        "CREATE FUNCTION vanish() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.payload->'ProductCreated'->>'sku' = 'LIMBO' THEN \
           RAISE EXCEPTION 'going away' USING ERRCODE = '57P01'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER vanish BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION vanish();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let failed = app.create(product_body("LIMBO")).await;
    assert_problem(failed, StatusCode::SERVICE_UNAVAILABLE).await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM sku_reservations WHERE sku = 'LIMBO'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, 1, "an undecided create keeps its reservation");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_reservation_left_by_a_dead_create_is_reclaimed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // A creator that died between reserving and storing, a minute ago.
    sqlx::query(
        "INSERT INTO sku_reservations (sku, product_id, reserved_at) \
         VALUES ('ORPHAN', 'gone', now() - interval '1 minute'), \
                ('FRESH', 'in-flight', now())",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        app.create(product_body("ORPHAN")).await.status(),
        StatusCode::CREATED
    );
    // A fresh reservation may belong to a create still running: it is respected.
    assert_eq!(
        app.create(product_body("FRESH")).await.status(),
        StatusCode::CONFLICT
    );
}
