//! Attribute filters and facets (docs/API.md "Search"): `type=`, `attr.<name>=`, `.min` and
//! `.max` select the products (any variant's value counts), `facets=` counts every selected
//! product once per value it holds, and both hold across keyset pages. Every expectation is
//! computed from the documents the list returns, never written down.

use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use catalog_read_model::generation::{pool_in, LIVE_SCHEMA};
use catalog_read_model::listing::ListQuery;
use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::lists::list;

const SIZES: [&str; 3] = ["S", "M", "L"];
const COLOURS: [&str; 4] = ["red", "blue", "green", "black"];
const BRANDS: [&str; 3] = ["acme", "zed", "nova"];
const WEIGHTS: [f64; 5] = [0.5, 1.5, 2.0, 10.0, 1.25];

/// A shirt type whose attributes cover every kind a facet may have, product- and
/// variant-level, and one attribute that is not a facet.
async fn define_shirt(world: &World) {
    let admin = world.token_for("admin", "catalog:admin");
    let response = world
        .client
        .put(format!("{}/product-types/shirt", world.base))
        .bearer_auth(admin)
        .json(&json!({"name": "Shirt", "attributes": [
            {"name": "brand", "type": "enum", "values": BRANDS, "facet": true},
            {"name": "organic", "type": "boolean", "facet": true},
            {"name": "weight", "type": "number", "facet": true},
            {"name": "note", "type": "text"},
            {"name": "size", "type": "enum", "values": SIZES, "level": "variant", "facet": true},
            {"name": "colour", "type": "enum", "values": COLOURS, "level": "variant", "facet": true}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// `count` shirts whose values vary with their number (every third with a second variant that
/// differs in size and colour, every fifth published), and three untyped products with a free
/// `brand`.
async fn shirts(world: &World, count: usize) {
    for i in 0..count {
        let id = world
            .create_from(json!({
                "sku": format!("SH-{i:02}"), "type": "shirt", "name": format!("Shirt {i}"),
                "category": if i % 2 == 0 { "shirts" } else { "tops" },
                "price": {"amount": 1000 + 100 * i as i64, "currency": "EUR"},
                "attributes": {
                    "brand": BRANDS[i % 3], "organic": i % 4 == 0,
                    "weight": WEIGHTS[i % 5], "note": format!("note {}", i % 2)
                },
                "variant_attributes": {"size": SIZES[i % 3], "colour": COLOURS[i % 4]}
            }))
            .await;
        if i % 3 == 0 {
            let response = world
                .send(
                    Method::POST,
                    &format!("/products/{id}/variants"),
                    Some(json!({"sku": format!("SH-{i:02}-B"), "attributes": {
                        "size": SIZES[(i + 1) % 3], "colour": COLOURS[(i + 2) % 4]
                    }})),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        if i % 5 == 0 {
            let response = world
                .send(Method::POST, &format!("/products/{id}/publish"), None)
                .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    for (i, brand) in BRANDS.iter().enumerate() {
        world
            .create_from(json!({
                "sku": format!("FREE-{i}"), "name": format!("Free {i}"), "category": "shirts",
                "price": {"amount": 700, "currency": "EUR"},
                // A text where shirts hold a number: ranges pass over it.
                "attributes": {"brand": brand, "fabric": "linen", "weight": "heavy"}
            }))
            .await;
    }
    world.wait_for_quiescence().await;
}

/// Whether a product belongs in a filtered list, as the test computes it.
type Selects = fn(&Value) -> bool;

/// Every product of the list `query` selects, page by page (`limit` each), checking that no
/// page repeats an earlier one's product.
async fn all_pages(world: &World, query: &str, limit: usize) -> Vec<Value> {
    let mut items: Vec<Value> = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = list(world, &format!("{query}&limit={limit}&cursor={cursor}")).await;
        for item in page["items"].as_array().unwrap() {
            assert!(
                !items.iter().any(|seen| seen["id"] == item["id"]),
                "{query}: {} repeated",
                item["sku"]
            );
            items.push(item.clone());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return items,
        }
    }
}

/// A value as a comparable key: a number by its value (`2.0` and `2` are one), a string as
/// itself.
fn key(value: &Value) -> String {
    match value {
        Value::Number(n) => n.as_f64().unwrap().to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The values of `facet` one product holds, each once: its own and all its variants'.
fn values_of(product: &Value, facet: &str) -> BTreeSet<String> {
    match facet {
        "category" => product["category"]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .collect(),
        "status" | "type" => product[facet]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .collect(),
        _ => {
            let name = facet.strip_prefix("attr.").unwrap();
            let own = std::iter::once(&product["attributes"][name]);
            let variants = product["variants"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| &v["attributes"][name]);
            own.chain(variants)
                .filter(|v| !v.is_null())
                .map(key)
                .collect()
        }
    }
}

/// The counts of `facet` over `products`, by brute force: what the answer's must equal.
fn brute_force(products: &[Value], facet: &str) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for product in products {
        for value in values_of(product, facet) {
            *counts.entry(value).or_default() += 1;
        }
    }
    counts
}

fn answered(page: &Value, facet: &str) -> BTreeMap<String, i64> {
    page["facets"][facet]
        .as_array()
        .unwrap_or_else(|| panic!("no facet {facet} in {page}"))
        .iter()
        .map(|v| (key(&v["value"]), v["count"].as_i64().unwrap()))
        .collect()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn facet_counts_equal_a_brute_force_count_over_the_selected_products(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    // The answers below are counted from query-api's facet index: loaded (the database is
    // empty yet) and caught up with every write before each count.
    let index = world.query.as_ref().unwrap().1.facets.clone().unwrap();
    let ready = eventually(Duration::from_secs(10), || async {
        index.is_ready().then_some(())
    });
    assert!(ready.await.is_some(), "the facet index loads");
    define_shirt(&world).await;
    shirts(&world, 24).await;
    let everything = all_pages(&world, "sort=name", 100).await;
    assert_eq!(everything.len(), 27);
    let lists = pool_in(&world.pool, LIVE_SCHEMA);

    let facets = "category,status,type,attr.brand,attr.organic,attr.weight,attr.size,attr.colour";
    let filters: [(&str, Selects); 9] = [
        ("", |_| true),
        ("type=shirt", |p| p["type"] == "shirt"),
        ("attr.colour=red", |p| {
            values_of(p, "attr.colour").contains("red")
        }),
        // Repeated: any of the values; a variant's value counts.
        ("attr.size=S&attr.size=L", |p| {
            let sizes = values_of(p, "attr.size");
            sizes.contains("S") || sizes.contains("L")
        }),
        // Two attributes: both; a free attribute of an untyped product filters as well.
        ("attr.brand=acme&attr.colour=blue", |p| {
            values_of(p, "attr.brand").contains("acme")
                && values_of(p, "attr.colour").contains("blue")
        }),
        ("attr.brand=acme", |p| {
            values_of(p, "attr.brand").contains("acme")
        }),
        ("attr.organic=true&category=shirts", |p| {
            p["attributes"]["organic"] == true && p["category"] == "shirts"
        }),
        // Numbers: equality whatever the notation, ranges inclusive at both ends.
        ("attr.weight=1.50", |p| p["attributes"]["weight"] == 1.5),
        ("attr.weight.min=1.25&attr.weight.max=2&status=draft", |p| {
            let weight = p["attributes"]["weight"].as_f64();
            weight.is_some_and(|w| (1.25..=2.0).contains(&w)) && p["status"] == "draft"
        }),
    ];
    for (filter, selects) in filters {
        let expected: BTreeSet<&str> = everything
            .iter()
            .filter(|p| selects(p) && (filter.contains("status=") || p["status"] != "archived"))
            .map(|p| p["sku"].as_str().unwrap())
            .collect();
        // Small pages: the filters hold across keyset pages, nothing skipped or repeated.
        let selected = all_pages(&world, &format!("{filter}&sort=price"), 4).await;
        let got: BTreeSet<&str> = selected
            .iter()
            .map(|p| p["sku"].as_str().unwrap())
            .collect();
        assert_eq!(got, expected, "{filter}");
        assert!(
            !expected.is_empty(),
            "{filter} selects nothing: a weak case"
        );

        let page = list(&world, &format!("{filter}&facets={facets}&limit=1")).await;
        for facet in facets.split(',') {
            assert_eq!(
                answered(&page, facet),
                brute_force(&selected, facet),
                "{filter}: facet {facet}"
            );
        }
        // And the same counts from PostgreSQL's statement, in the same order.
        let query = ListQuery::parse(Some(&format!("{filter}&facets={facets}"))).unwrap();
        let memory = query.run(&lists, Some(&index)).await.unwrap().facets;
        let statement = query.run(&lists, None).await.unwrap().facets;
        assert_eq!(memory, statement, "{filter}");
    }
    assert!(index.is_ready(), "the index was not dropped meanwhile");

    // Values are typed as the products hold them, the most common first.
    let page = list(&world, "facets=attr.organic,attr.weight,attr.brand").await;
    let organic = page["facets"]["attr.organic"].as_array().unwrap();
    assert!(
        organic.iter().all(|v| v["value"].is_boolean()),
        "{organic:?}"
    );
    assert!(page["facets"]["attr.weight"][0]["value"].is_number());
    let brand_counts: Vec<i64> = page["facets"]["attr.brand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["count"].as_i64().unwrap())
        .collect();
    assert!(
        brand_counts.windows(2).all(|w| w[0] >= w[1]),
        "{brand_counts:?}"
    );

    // A product's values follow its changes: a removed variant's colour stops counting.
    let shirt = everything.iter().find(|p| p["sku"] == "SH-00").unwrap();
    let before = answered(&list(&world, "facets=attr.colour").await, "attr.colour");
    let second = shirt["variants"][1].clone();
    let response = world
        .send(
            Method::DELETE,
            &format!(
                "/products/{}/variants/{}",
                shirt["id"].as_str().unwrap(),
                second["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    world.wait_for_quiescence().await;
    let after = answered(&list(&world, "facets=attr.colour").await, "attr.colour");
    let colour = second["attributes"]["colour"].as_str().unwrap();
    assert_eq!(after.get(colour).copied().unwrap_or(0), before[colour] - 1);

    // What verify compares (the documents) is what the tokens are generated from.
    assert!(world.verify().await.is_empty());
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn facets_join_a_search_and_bad_filters_are_refused(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    define_shirt(&world).await;
    shirts(&world, 6).await;

    // With `q` (typos forgiven), facets count what the search selects.
    let page = list(&world, "q=shrt&facets=attr.brand,type").await;
    let found = page["items"].as_array().unwrap();
    assert_eq!(found.len(), 6, "{page}");
    assert_eq!(
        answered(&page, "attr.brand"),
        brute_force(found, "attr.brand")
    );
    assert_eq!(answered(&page, "type"), brute_force(found, "type"));
    // Nothing selected: every facet asked for, without values.
    let page = list(&world, "q=zzzz&facets=category").await;
    assert_eq!(page["facets"], json!({"category": []}));

    for (query, field) in [
        ("facets=attr.note", "facets"),
        ("facets=attr.fabric", "facets"),
        ("facets=colour", "facets"),
        ("attr.weight.min=heavy", "attr.weight.min"),
        ("attr.weight.min=5&attr.weight.max=1", "attr.weight.min"),
        ("attr.Colour=red", "attr.Colour"),
        ("attr.colour=", "attr.colour"),
        ("type=Shirt", "type"),
    ] {
        let response = world.read(&format!("/products?{query}"), None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(error_fields(&problem), [field], "{query}: {problem}");
    }
}
