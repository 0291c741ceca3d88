//! Catalog 2, part 2 on the write side: variants (`/products/{id}/variants…`) and price lists
//! (`PUT …/prices`), their rules and errors, and SKUs unique across every variant of every
//! product.

use std::sync::Arc;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

async fn add_variant(app: &TestApp, id: &str, body: Value) -> Response {
    app.send(
        Method::POST,
        &format!("/products/{id}/variants"),
        Some(body),
    )
    .await
}

/// Adds a variant and returns its id.
async fn added(app: &TestApp, id: &str, body: Value) -> String {
    let response = add_variant(app, id, body.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED, "adding {body}");
    let body: Value = response.json().await.unwrap();
    body["variant_id"].as_str().unwrap().to_string()
}

async fn event_types(app: &TestApp, id: &str) -> Vec<String> {
    app.events(id).await.into_iter().map(|e| e.1).collect()
}

async fn problem_type(response: Response, status: StatusCode) -> String {
    let problem = assert_problem(response, status).await;
    problem["type"].as_str().unwrap().to_string()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_variant_is_added_changed_adjusted_and_removed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("CUP").await;

    // When a variant is added
    let response = add_variant(
        &app,
        &id,
        json!({"sku": "CUP-L", "attributes": {"size": "L"}, "stock": 4,
               "prices": [{"amount": 1499, "currency": "EUR"},
                          {"amount": 1199, "currency": "EUR", "channel": "outlet"}]}),
    )
    .await;
    // Then it answers 201 with the variant's id and the product's new version
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(etag(&response).as_deref(), Some("\"2\""));
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("/products/{id}")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["version"], 2);
    let variant = body["variant_id"].as_str().unwrap().to_string();
    let events = app.events(&id).await;
    let (_, event_type, payload, _) = &events[1];
    assert_eq!(event_type, "VariantAdded");
    assert_eq!(payload["VariantAdded"]["variant_id"], variant.as_str());
    assert_eq!(payload["VariantAdded"]["sku"], "CUP-L");
    assert_eq!(payload["VariantAdded"]["stock"], 4);
    assert_eq!(
        payload["VariantAdded"]["prices"][1]["channel"], "outlet",
        "{payload}"
    );

    // Its attributes change, its stock moves, its prices are replaced
    let path = format!("/products/{id}/variants/{variant}");
    let changed = app
        .send(
            Method::PATCH,
            &path,
            Some(json!({"attributes": {"size": "XL"}})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let adjusted = app
        .send(
            Method::POST,
            &format!("{path}/stock-adjustments"),
            Some(json!({"delta": -3, "reason": "sale"})),
        )
        .await;
    assert_eq!(adjusted.status(), StatusCode::OK);
    let priced = app
        .send(
            Method::PUT,
            &format!("{path}/prices"),
            Some(json!({"prices": [{"amount": 1599, "currency": "EUR",
                                    "valid_from": "2026-12-24T00:00:00+01:00"}]})),
        )
        .await;
    assert_eq!(priced.status(), StatusCode::OK);
    assert_eq!(etag(&priced).as_deref(), Some("\"5\""));
    // The master's stock is v1's, adjusted as v1 recorded it
    let master = app
        .send(
            Method::POST,
            &format!("/products/{id}/variants/master/stock-adjustments"),
            Some(json!({"delta": 1, "reason": "found one"})),
        )
        .await;
    assert_eq!(master.status(), StatusCode::OK);
    // And removed
    let removed = app.send(Method::DELETE, &path, None).await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(
        event_types(&app, &id).await,
        [
            "ProductCreated",
            "VariantAdded",
            "VariantAttributesChanged",
            "VariantStockAdjusted",
            "PricesSet",
            "StockAdjusted",
            "VariantRemoved"
        ]
    );
    let events = app.events(&id).await;
    assert_eq!(events[3].2["VariantStockAdjusted"]["stock"], 1);
    assert_eq!(
        events[4].2["PricesSet"]["prices"][0]["valid_from"], "2026-12-23T23:00:00Z",
        "instants are stored in UTC"
    );
    // A removed variant is not found any more
    let again = app.send(Method::DELETE, &path, None).await;
    assert_problem(again, StatusCode::NOT_FOUND).await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn every_refusal_has_its_problem_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("MUG").await;
    let other = app.create_product("PLATE").await;
    added(
        &app,
        &id,
        json!({"sku": "MUG-L", "attributes": {"size": "L"}}),
    )
    .await;
    let before = app.event_count().await;
    let variants = format!("/products/{id}/variants");

    // A SKU another product's master or this product's variant holds
    for sku in ["PLATE", "MUG-L", "MUG"] {
        let taken = add_variant(&app, &id, json!({"sku": sku, "attributes": {"size": sku}})).await;
        assert_eq!(
            problem_type(taken, StatusCode::CONFLICT).await,
            "urn:catalog:problem:sku-taken",
            "{sku}"
        );
    }
    // The same variant values as another variant
    let twin = add_variant(
        &app,
        &id,
        json!({"sku": "MUG-L2", "attributes": {"size": "L"}}),
    )
    .await;
    assert_eq!(
        problem_type(twin, StatusCode::CONFLICT).await,
        "urn:catalog:problem:duplicate-variant"
    );
    // The master cannot go
    let master = app
        .send(Method::DELETE, &format!("{variants}/master"), None)
        .await;
    assert_eq!(
        problem_type(master, StatusCode::CONFLICT).await,
        "urn:catalog:problem:master-variant"
    );
    // A variant the product does not hold, a product that does not exist
    for path in [
        format!("{variants}/0190a000-0000-7000-8000-00000000abcd"),
        "/products/0190a000-0000-7000-8000-00000000abcd/variants/master".to_string(),
    ] {
        let missing = app
            .send(Method::PATCH, &path, Some(json!({"attributes": {}})))
            .await;
        assert_problem(missing, StatusCode::NOT_FOUND).await;
    }
    // Stock below zero on a variant
    let short = app
        .send(
            Method::POST,
            &format!("{variants}/master/stock-adjustments"),
            Some(json!({"delta": -11, "reason": "sale"})),
        )
        .await;
    assert_eq!(
        problem_type(short, StatusCode::CONFLICT).await,
        "urn:catalog:problem:insufficient-stock"
    );
    // Overlapping prices, a window that ends before it starts, an unknown currency, a
    // malformed instant, a missing amount
    let bad_prices = app
        .send(
            Method::PUT,
            &format!("{variants}/master/prices"),
            Some(json!({"prices": [
                {"amount": 1000, "currency": "EUR"},
                {"amount": 900, "currency": "EUR", "valid_from": "2026-12-01T00:00:00Z",
                 "valid_until": "2026-12-10T00:00:00Z"},
                {"amount": 800, "currency": "EUR", "valid_from": "2026-12-05T00:00:00Z"},
                {"amount": 700, "currency": "EUR", "valid_from": "2026-12-20T00:00:00Z",
                 "valid_until": "2026-12-19T00:00:00Z"},
                {"amount": 700, "currency": "QQQ"},
                {"amount": 700, "currency": "USD", "valid_until": "next week"},
                {"currency": "USD", "channel": "web"}
            ]})),
        )
        .await;
    let problem = assert_problem(bad_prices, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error_fields(&problem),
        [
            "prices[2]",
            "prices[3].valid_from",
            "prices[4].currency",
            "prices[5].valid_until",
            "prices[6].amount"
        ]
    );
    // The master keeps its base price first
    let no_base = app
        .send(
            Method::PUT,
            &format!("/products/{id}/prices"),
            Some(json!({"prices": [{"amount": 1, "currency": "EUR", "channel": "web"}]})),
        )
        .await;
    let problem = assert_problem(no_base, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["prices"]);
    // Malformed bodies
    let not_a_list = app
        .send(
            Method::PUT,
            &format!("/products/{id}/prices"),
            Some(json!({"prices": 5})),
        )
        .await;
    assert_problem(not_a_list, StatusCode::BAD_REQUEST).await;
    let strings_only = add_variant(
        &app,
        &id,
        json!({"sku": "MUG-S", "attributes": {"size": 1}}),
    )
    .await;
    assert_problem(strings_only, StatusCode::BAD_REQUEST).await;

    assert_eq!(app.event_count().await, before, "nothing was written");
    // And no refused SKU stayed reserved: each can be used at once
    for sku in ["MUG-L2", "MUG-S"] {
        added(&app, &other, json!({"sku": sku})).await;
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_product_holds_at_most_a_hundred_variants_besides_its_master(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("SHIRT").await;
    for n in 0..100 {
        added(
            &app,
            &id,
            json!({"sku": format!("SHIRT-{n}"), "attributes": {"n": n.to_string()}}),
        )
        .await;
    }
    let one_more = add_variant(
        &app,
        &id,
        json!({"sku": "SHIRT-X", "attributes": {"n": "x"}}),
    )
    .await;
    assert_eq!(
        problem_type(one_more, StatusCode::CONFLICT).await,
        "urn:catalog:problem:too-many-variants"
    );
    // Its SKU was released: another product takes it
    let other = app.create_product("OTHER").await;
    added(&app, &other, json!({"sku": "SHIRT-X"})).await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_removed_variants_and_an_archived_products_skus_are_free_again(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("LAMP").await;
    let variant = added(
        &app,
        &id,
        json!({"sku": "LAMP-RED", "attributes": {"colour": "red"}}),
    )
    .await;
    let blue = added(
        &app,
        &id,
        json!({"sku": "LAMP-BLUE", "attributes": {"colour": "blue"}}),
    )
    .await;
    assert_ne!(variant, blue);
    let removed = app
        .send(
            Method::DELETE,
            &format!("/products/{id}/variants/{variant}"),
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::OK);
    // The removed variant's SKU is another product's to take
    let other = app.create_product("SHADE").await;
    added(&app, &other, json!({"sku": "LAMP-RED"})).await;
    // Archiving frees every SKU the product holds, the master's and its variants'
    let archived = app
        .send(Method::DELETE, &format!("/products/{id}"), None)
        .await;
    assert_eq!(archived.status(), StatusCode::OK);
    assert_eq!(
        app.create(product_body("LAMP-BLUE")).await.status(),
        StatusCode::CREATED
    );
    added(&app, &other, json!({"sku": "LAMP"})).await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_sku_held_only_by_a_dead_reservation_is_reclaimed(pool: PgPool) {
    // Given a reservation whose variant was removed but whose release never ran, and one
    // whose add died before storing its event, both past the grace period
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("DESK").await;
    let variant = added(&app, &id, json!({"sku": "DESK-OAK"})).await;
    app.send(
        Method::DELETE,
        &format!("/products/{id}/variants/{variant}"),
        None,
    )
    .await;
    sqlx::query(
        "INSERT INTO sku_reservations (sku, product_id, reserved_at) VALUES \
         ('DESK-OAK', $1, now() - interval '1 minute'), ('DESK-ASH', $1, now() - interval '1 minute')",
    )
    .bind(&id)
    .execute(&app.pool)
    .await
    .unwrap();
    // Then both SKUs can be taken; the product's live ones cannot
    let other = app.create_product("CHAIR").await;
    added(&app, &other, json!({"sku": "DESK-OAK"})).await;
    added(&app, &other, json!({"sku": "DESK-ASH"})).await;
    sqlx::query("UPDATE sku_reservations SET reserved_at = now() - interval '1 minute'")
        .execute(&app.pool)
        .await
        .unwrap();
    let taken = add_variant(&app, &other, json!({"sku": "DESK"})).await;
    assert_eq!(
        problem_type(taken, StatusCode::CONFLICT).await,
        "urn:catalog:problem:sku-taken"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn eight_racing_requests_for_one_sku_across_create_and_add_variant_have_one_winner(
    pool: PgPool,
) {
    let app = Arc::new(TestApp::spawn(pool).await);
    let mut products = Vec::new();
    for n in 0..4 {
        products.push(app.create_product(&format!("BASE-{n}")).await);
    }
    let before = app.event_count().await;
    // Four creates and four new variants (on four products) race for one SKU
    let mut racers = Vec::new();
    for n in 0..8 {
        let (app, products) = (Arc::clone(&app), products.clone());
        racers.push(tokio::spawn(async move {
            if n % 2 == 0 {
                app.create(product_body("CONTESTED")).await.status()
            } else {
                add_variant(&app, &products[n / 2], json!({"sku": "CONTESTED"}))
                    .await
                    .status()
            }
        }));
    }
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let lost = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, lost), (1, 7), "{statuses:?}");
    assert_eq!(app.event_count().await, before + 1, "one event was stored");
    let holders: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sku_reservations WHERE sku = 'CONTESTED'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(holders, 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn v1s_price_route_replaces_that_currencys_base_and_keeps_the_list(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("PEN").await;
    let list = json!({"prices": [
        {"amount": 1299, "currency": "EUR"},
        {"amount": 999, "currency": "EUR", "valid_from": "2026-12-01T00:00:00Z"},
        {"amount": 1099, "currency": "EUR", "channel": "b2b"}
    ]});
    let set = app
        .send(Method::PUT, &format!("/products/{id}/prices"), Some(list))
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    // The same currency: v1's event, the rest of the list kept
    let changed = app
        .send(
            Method::PUT,
            &format!("/products/{id}/price"),
            Some(json!({"amount": 1399, "currency": "EUR"})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    // Another currency: the master's list with that price first
    let usd = app
        .send(
            Method::PUT,
            &format!("/products/{id}/price"),
            Some(json!({"amount": 1500, "currency": "USD"})),
        )
        .await;
    assert_eq!(usd.status(), StatusCode::OK);
    let events = app.events(&id).await;
    assert_eq!(events[2].1, "PriceChanged");
    assert_eq!(events[2].2["PriceChanged"]["previous"]["amount"], 1299);
    assert_eq!(events[3].1, "PricesSet");
    let prices = &events[3].2["PricesSet"]["prices"];
    let amounts: Vec<i64> = prices
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [1500, 1399, 999, 1099]);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_typed_products_variants_hold_its_variant_attributes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let admin = app.token_for("admin", "catalog:admin");
    let shirt = json!({"name": "Shirt", "attributes": [
        {"name": "fabric", "type": "text"},
        {"name": "size", "type": "enum", "values": ["S", "M", "L"], "level": "variant",
         "required": true}
    ]});
    let defined = app
        .client
        .put(format!("{}/product-types/shirt", app.base))
        .bearer_auth(admin)
        .json(&shirt)
        .send()
        .await
        .unwrap();
    assert_eq!(defined.status(), StatusCode::CREATED);
    // The master's variant attributes are given at creation, and checked
    let mut body = product_body("TEE");
    body["type"] = json!("shirt");
    body["attributes"] = json!({"fabric": "cotton"});
    body["variant_attributes"] = json!({"size": "XXL"});
    let refused = app.create(body.clone()).await;
    let problem = assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["variant_attributes.size"]);
    body["variant_attributes"] = json!({"size": "M"});
    let created = app.create(body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.events(&id).await[0].2["ProductCreated"]["variant_attributes"],
        json!({"size": "M"})
    );
    // Every other variant needs its size, and only variant attributes
    let refused = add_variant(
        &app,
        &id,
        json!({"sku": "TEE-L", "attributes": {"fabric": "silk"}}),
    )
    .await;
    let problem = assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error_fields(&problem),
        ["attributes.fabric", "attributes.size"]
    );
    added(
        &app,
        &id,
        json!({"sku": "TEE-L", "attributes": {"size": "L"}}),
    )
    .await;
    let twin = add_variant(
        &app,
        &id,
        json!({"sku": "TEE-M", "attributes": {"size": "M"}}),
    )
    .await;
    assert_eq!(
        problem_type(twin, StatusCode::CONFLICT).await,
        "urn:catalog:problem:duplicate-variant",
        "the master's values count too"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn if_match_and_idempotency_keys_work_on_the_variant_routes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("BOWL").await;
    let stale = app
        .request(Method::POST, &format!("/products/{id}/variants"))
        .header("If-Match", "\"7\"")
        .json(&json!({"sku": "BOWL-S"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let send = || {
        app.request(Method::POST, &format!("/products/{id}/variants"))
            .header("Idempotency-Key", "bowl-small")
            .json(&json!({"sku": "BOWL-S"}))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let replay = send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    assert_eq!(event_types(&app, &id).await.len(), 2);
}
