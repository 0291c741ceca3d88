//! Catalog 2, part 2 on the read side: `variants` in every ProductView, each variant's price
//! selected by `currency`, `channel` and `at` on every read (by id, lists, past versions), and
//! `GET /products?sku=` finding a product by any variant's SKU.

use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

async fn get(world: &World, path: &str) -> Value {
    let response = world.read(path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// The top-level price's amount and each variant's, master first (`null` as `None`).
fn amounts(view: &Value) -> Vec<Option<i64>> {
    std::iter::once(&view["price"])
        .chain(
            view["variants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| &v["price"]),
        )
        .map(|price| price["amount"].as_i64())
        .collect()
}

/// A product whose master has a base price, a sale from 5 to 8 December, a b2b price and a
/// USD price, and a variant priced in USD only; returns its id, the variant's and the version.
async fn shop(world: &World) -> (String, String, u64) {
    let id = world.create("SHIRT").await;
    let added = world
        .send(
            Method::POST,
            &format!("/products/{id}/variants"),
            Some(
                json!({"sku": "SHIRT-XL", "attributes": {"size": "XL"}, "stock": 7,
                        "prices": [{"amount": 1100, "currency": "USD"}]}),
            ),
        )
        .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let variant = added.json::<Value>().await.unwrap()["variant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let priced = world
        .send(
            Method::PUT,
            &format!("/products/{id}/prices"),
            Some(json!({"prices": [
                {"amount": 1000, "currency": "EUR"},
                {"amount": 800, "currency": "EUR", "valid_from": "2026-12-05T00:00:00Z",
                 "valid_until": "2026-12-08T00:00:00Z"},
                {"amount": 900, "currency": "EUR", "channel": "b2b"},
                {"amount": 1200, "currency": "USD"}
            ]})),
        )
        .await;
    assert_eq!(priced.status(), StatusCode::OK);
    world.wait_for_version(&id, 3).await;
    (id, variant, 3)
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_product_lists_its_variants_master_first_each_with_its_selected_price(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let (id, variant, _) = shop(&world).await;
    let view = get(&world, &format!("/products/{id}?at=2026-12-04T12:00:00Z")).await;
    let variants = view["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    assert_eq!(
        (
            &variants[0]["id"],
            &variants[0]["sku"],
            &variants[0]["stock"]
        ),
        (&json!("master"), &json!("SHIRT"), &json!(100))
    );
    assert_eq!(
        (
            &variants[1]["id"],
            &variants[1]["sku"],
            &variants[1]["stock"]
        ),
        (&json!(variant), &json!("SHIRT-XL"), &json!(7))
    );
    assert_eq!(variants[1]["attributes"], json!({"size": "XL"}));
    assert_eq!(variants[0]["prices"].as_array().unwrap().len(), 4);
    assert_eq!(view["sku"], "SHIRT");
    // The default currency is the first price's; the variant has no EUR price
    assert_eq!(amounts(&view), [Some(1000), Some(1000), None]);

    // The sale from its first instant until, not including, its last
    let at = |instant: &str| format!("/products/{id}?at={instant}");
    for (instant, expected) in [
        ("2026-12-04T23:59:59Z", 1000),
        ("2026-12-05T00:00:00Z", 800),
        ("2026-12-07T23:59:59Z", 800),
        ("2026-12-08T00:00:00Z", 1000),
        // the same instant in another offset
        ("2026-12-05T01:00:00%2B01:00", 800),
    ] {
        assert_eq!(
            amounts(&get(&world, &at(instant)).await)[0],
            Some(expected),
            "{instant}"
        );
    }
    // A channel's own price wins over the sale; another channel falls back to every channel's
    let b2b = get(
        &world,
        &format!("/products/{id}?channel=b2b&at=2026-12-06T00:00:00Z"),
    )
    .await;
    assert_eq!(amounts(&b2b)[0], Some(900));
    let web = get(
        &world,
        &format!("/products/{id}?channel=web&at=2026-12-06T00:00:00Z"),
    )
    .await;
    assert_eq!(amounts(&web)[0], Some(800));
    // Another currency
    let usd = get(&world, &format!("/products/{id}?currency=USD")).await;
    assert_eq!(amounts(&usd), [Some(1200), Some(1200), Some(1100)]);
    assert_eq!(usd["price"], json!({"amount": 1200, "currency": "USD"}));
    let none = get(&world, &format!("/products/{id}?currency=CHF")).await;
    assert_eq!(amounts(&none), [None, None, None]);
    assert_eq!(none["price"], Value::Null);

    // Bad selections are 422, each named
    let bad = world
        .read(
            &format!("/products/{id}?currency=usd&channel=B2B&at=soon"),
            None,
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(error_fields(&problem), ["at", "channel", "currency"]);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn lists_select_prices_and_find_a_product_by_any_variants_sku(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let (id, _, _) = shop(&world).await;
    let other = world.create("SHIRT-XXL").await;
    world.wait_for_version(&other, 1).await;

    // By a variant's SKU, exactly: the product, not the one whose SKU merely starts alike
    for sku in ["SHIRT-XL", "SHIRT"] {
        let page = get(&world, &format!("/products?sku={sku}")).await;
        assert_eq!(values_of(&page["items"], "id"), [id.as_str()], "{sku}");
    }
    let page = get(&world, "/products?sku=NOPE").await;
    assert_eq!(page["items"], json!([]));
    let bad = world.read("/products?sku=no%20spaces", None).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Items are served with the prices the list asks for
    let sale = get(&world, "/products?sku=SHIRT&at=2026-12-06T00:00:00Z").await;
    assert_eq!(amounts(&sale["items"][0]), [Some(800), Some(800), None]);
    // Filters and sorting use the master's base price, whatever is selected
    let cheap = get(&world, "/products?max_price=600&currency=EUR&sort=price").await;
    assert_eq!(values_of(&cheap["items"], "sku"), ["SHIRT-XXL"]);
    let sorted = get(&world, "/products?sort=-price&at=2026-12-06T00:00:00Z").await;
    assert_eq!(values_of(&sorted["items"], "sku"), ["SHIRT", "SHIRT-XXL"]);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_past_version_selects_its_prices_as_a_current_read_does(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let (id, _, version) = shop(&world).await;
    let token = world.token_for("auditor", "catalog:audit");
    let read = |query: &str| {
        let path = format!("/products/{id}/versions/{version}?{query}");
        let (world, token) = (&world, token.clone());
        async move {
            let response = world.read(&path, Some(&token)).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(
        amounts(&read("at=2026-12-06T00:00:00Z").await)[0],
        Some(800)
    );
    assert_eq!(
        amounts(&read("currency=USD").await),
        [Some(1200), Some(1200), Some(1100)]
    );
    let past = read("").await;
    assert_eq!(past["variants"].as_array().unwrap().len(), 2);
    // Version 1 had the master only, priced as v1 had it
    let first = world
        .read(&format!("/products/{id}/versions/1"), Some(&token))
        .await;
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["variants"].as_array().unwrap().len(), 1);
    assert_eq!(first["price"], json!({"amount": 500, "currency": "EUR"}));
}
