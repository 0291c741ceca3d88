use std::collections::BTreeSet;

use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

/// Creates a product with the given fields and returns its id.
async fn product(
    world: &World,
    sku: &str,
    name: &str,
    category: &str,
    amount: i64,
    currency: &str,
) -> String {
    world
        .create_from(json!({
            "sku": sku, "name": name, "category": category,
            "description": format!("{name} for the {category}"),
            "price": {"amount": amount, "currency": currency}
        }))
        .await
}

pub(crate) async fn list(world: &World, query: &str) -> Value {
    let response = world.read(&format!("/products?{query}"), None).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.unwrap()
}

pub(crate) fn skus(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_string())
        .collect()
}

/// A small catalog: kitchen and garden products in two currencies, one published, one archived.
async fn catalog(world: &World) -> Vec<String> {
    let ids = vec![
        product(world, "K-1", "Bread knife", "kitchen", 2500, "EUR").await,
        product(world, "K-2", "Apron", "kitchen", 1500, "EUR").await,
        product(world, "K-3", "Colander", "kitchen", 900, "EUR").await,
        product(world, "G-1", "Rake", "garden", 3000, "EUR").await,
        product(world, "G-2", "Hose", "garden", 4500, "USD").await,
        product(world, "G-3", "Trowel", "garden", 700, "EUR").await,
    ];
    world
        .send(Method::POST, &format!("/products/{}/publish", ids[0]), None)
        .await;
    world
        .send(Method::DELETE, &format!("/products/{}", ids[5]), None)
        .await;
    world.wait_for_quiescence().await;
    ids
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn filters_select_the_documented_products(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    catalog(&world).await;
    let set = |page: Value| skus(&page).into_iter().collect::<BTreeSet<_>>();
    let expect = |items: &[&str]| {
        items
            .iter()
            .map(std::string::ToString::to_string)
            .collect::<BTreeSet<_>>()
    };

    assert_eq!(
        set(list(&world, "").await),
        expect(&["K-1", "K-2", "K-3", "G-1", "G-2"]),
        "archived left out"
    );
    assert_eq!(set(list(&world, "status=archived").await), expect(&["G-3"]));
    assert_eq!(
        set(list(&world, "status=published").await),
        expect(&["K-1"])
    );
    assert_eq!(
        set(list(&world, "status=draft&category=garden").await),
        expect(&["G-1", "G-2"])
    );
    assert_eq!(set(list(&world, "q=knife").await), expect(&["K-1"]));
    assert_eq!(
        set(list(&world, "q=K-2").await),
        expect(&["K-2"]),
        "SKUs are searchable"
    );
    assert_eq!(
        set(list(&world, "q=garden").await),
        expect(&["G-1", "G-2"]),
        "descriptions are searchable"
    );
    assert_eq!(
        set(list(&world, "min_price=1000&max_price=3000&currency=EUR").await),
        expect(&["K-1", "K-2", "G-1"])
    );
    assert_eq!(set(list(&world, "currency=USD").await), expect(&["G-2"]));
    assert_eq!(set(list(&world, "category=nothing").await), expect(&[]));
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn every_sort_orders_the_items(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    catalog(&world).await;
    assert_eq!(
        skus(&list(&world, "sort=name").await),
        ["K-2", "K-1", "K-3", "G-2", "G-1"]
    );
    assert_eq!(
        skus(&list(&world, "sort=-name").await),
        ["G-1", "G-2", "K-3", "K-1", "K-2"]
    );
    assert_eq!(
        skus(&list(&world, "sort=price").await),
        ["K-3", "K-2", "K-1", "G-1", "G-2"]
    );
    assert_eq!(
        skus(&list(&world, "sort=-price").await),
        ["G-2", "G-1", "K-1", "K-2", "K-3"]
    );
    // K-1 was published last, after every create: it is the most recently updated.
    let updated = skus(&list(&world, "sort=-updated").await);
    assert_eq!(updated[0], "K-1");
    assert_eq!(
        skus(&list(&world, "").await),
        updated,
        "-updated is the default"
    );
    let mut ascending = skus(&list(&world, "sort=updated").await);
    ascending.reverse();
    assert_eq!(ascending, updated);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn pages_follow_each_other_without_gaps_or_repeats(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    catalog(&world).await;
    for sort in ["name", "-name", "price", "-price", "updated", "-updated"] {
        let mut seen = Vec::new();
        let mut query = format!("sort={sort}&limit=2");
        loop {
            let page = list(&world, &query).await;
            assert!(page["items"].as_array().unwrap().len() <= 2);
            seen.extend(skus(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("sort={sort}&limit=2&cursor={cursor}"),
                None => break,
            }
        }
        let whole = skus(&list(&world, &format!("sort={sort}")).await);
        assert_eq!(seen, whole, "{sort}");
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn pagination_over_a_changing_set_skips_and_repeats_nothing(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let ids = catalog(&world).await;
    let first = list(&world, "sort=name&limit=2").await;
    let mut seen = skus(&first);
    assert_eq!(seen, ["K-2", "K-1"]);
    let mut cursor = first["next_cursor"].as_str().unwrap().to_string();
    // Between pages: products appear before and after the cursor, and one is changed.
    product(&world, "N-1", "Aaa first", "misc", 100, "EUR").await;
    product(&world, "N-2", "Zzz last", "misc", 100, "EUR").await;
    let publish = format!("/products/{}/publish", ids[2]);
    assert_eq!(
        world.send(Method::POST, &publish, None).await.status(),
        StatusCode::OK
    );
    world.wait_for_quiescence().await;
    loop {
        let page = list(&world, &format!("sort=name&limit=2&cursor={cursor}")).await;
        seen.extend(skus(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "nothing repeated: {seen:?}");
    for sku in ["K-2", "K-1", "K-3", "G-2", "G-1"] {
        assert!(unique.contains(sku), "{sku} skipped: {seen:?}");
    }
    assert!(
        unique.contains("N-2"),
        "a product after the cursor is reached"
    );
    assert!(
        !unique.contains("N-1"),
        "a product before the cursor is not"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn bad_parameters_are_422_with_every_field_named(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let cursor_for_name = {
        catalog(&world).await;
        list(&world, "sort=name&limit=1").await["next_cursor"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for (query, fields) in [
        ("status=deleted", vec!["status"]),
        ("sort=colour", vec!["sort"]),
        ("limit=0", vec!["limit"]),
        ("limit=101", vec!["limit"]),
        ("limit=ten", vec!["limit"]),
        ("min_price=-5", vec!["min_price"]),
        ("max_price=1.5", vec!["max_price"]),
        ("min_price=10&max_price=5", vec!["min_price"]),
        ("currency=euro", vec!["currency"]),
        ("cursor=%27%3B%20DROP%20TABLE%20events", vec!["cursor"]),
        (
            &format!("sort=price&cursor={cursor_for_name}"),
            vec!["cursor"],
        ),
        ("status=x&limit=1000", vec!["limit", "status"]),
    ] {
        let response = world.read(&format!("/products?{query}"), None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(error_fields(&problem), fields, "{query}");
    }
}
