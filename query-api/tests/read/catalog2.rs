//! Catalog 2 on the read side: a product's texts in the locale the reader asks for (by
//! `?locale=`, else `Accept-Language`), every translation beside them, search in any locale,
//! and the product types.

use catalog_testkit::*;
use reqwest::header::{ACCEPT_LANGUAGE, ETAG, VARY};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

async fn get(world: &World, path: &str, accept_language: Option<&str>) -> reqwest::Response {
    let (base, _) = world.query.as_ref().expect("query-api was started");
    let request = world.client.get(format!("{base}{path}"));
    let request = match accept_language {
        Some(value) => request.header(ACCEPT_LANGUAGE, value),
        None => request,
    };
    request.send().await.unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    let vary = response
        .headers()
        .get(VARY)
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(vary.as_deref(), Some("Accept-Language"));
    response.json().await.unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn reads_answer_in_the_locale_asked_for_with_every_translation(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let created = world
        .send(
            Method::POST,
            "/products",
            Some(json!({
                "sku": "MUG-1",
                "name": {"en": "Mug", "de": "Tasse", "de-CH": "Chacheli"},
                "description": {"en": "A mug", "fr": "Une tasse"},
                "price": {"amount": 900, "currency": "EUR"}
            })),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    world.wait_for_version(&id, 1).await;

    // Without a wish: the default locale, every translation beside it
    let plain = json_of(get(&world, &format!("/products/{id}"), None).await).await;
    assert_eq!(
        (&plain["name"], &plain["description"], &plain["locale"]),
        (&json!("Mug"), &json!("A mug"), &json!("en"))
    );
    assert_eq!(
        plain["translations"]["name"],
        json!({"en": "Mug", "de": "Tasse", "de-CH": "Chacheli"})
    );
    assert_eq!(
        plain["translations"]["description"],
        json!({"en": "A mug", "fr": "Une tasse"})
    );

    // `?locale=` names the tag; each field falls back on its own (de-CH → de → en)
    let swiss =
        json_of(get(&world, &format!("/products/{id}?locale=de-ch"), Some("fr")).await).await;
    assert_eq!(
        (&swiss["name"], &swiss["description"], &swiss["locale"]),
        (&json!("Chacheli"), &json!("A mug"), &json!("de-CH"))
    );

    // Accept-Language in q order: de-AT's language for the name, French for the description
    let response = get(&world, &format!("/products/{id}"), Some("fr;q=0.5, de-AT")).await;
    let etag = response.headers().get(ETAG).cloned();
    let german = json_of(response).await;
    assert_eq!(
        (&german["name"], &german["description"], &german["locale"]),
        (&json!("Tasse"), &json!("Une tasse"), &json!("de"))
    );
    assert_eq!(etag.unwrap().to_str().unwrap(), "\"1\"");

    // A malformed tag is the reader's mistake
    let bad = get(
        &world,
        &format!("/products/{id}?locale=not%20a%20tag"),
        None,
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "locale");
    // In a list, with the other bad parameters
    let bad = get(&world, "/products?locale=not%20a%20tag&limit=0", None).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(error_fields(&problem), ["limit", "locale"]);

    // Lists localize their items too, and `q` matches text in any locale
    let page = json_of(get(&world, "/products?q=Chacheli", None).await).await;
    assert_eq!(page["items"][0]["id"], json!(id));
    assert_eq!(page["items"][0]["name"], "Mug");
    let page = json_of(get(&world, "/products?q=tasse&locale=de", None).await).await;
    assert_eq!(page["items"][0]["name"], "Tasse");

    // A past version, rebuilt from the event store, answers in the locale asked for
    let auditor = world.token_for("auditor", "catalog:audit");
    let (base, _) = world.query.as_ref().unwrap();
    let version = world
        .client
        .get(format!("{base}/products/{id}/versions/1?locale=de"))
        .bearer_auth(auditor)
        .send()
        .await
        .unwrap();
    let version = json_of(version).await;
    assert_eq!(
        (&version["name"], &version["locale"]),
        (&json!("Tasse"), &json!("de"))
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn product_types_are_read_as_defined(pool: PgPool) {
    let world = World::start(pool, Options::everything()).await;
    let admin = world.token_for("admin", "catalog:admin");
    let define = |body: Value| {
        world
            .client
            .put(format!("{}/product-types/mug", world.base))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let first = json!({"name": "Mug", "attributes": [
        {"name": "volume_ml", "type": "number", "facet": true}
    ]});
    assert_eq!(define(first).await.unwrap().status(), StatusCode::CREATED);
    let second = json!({"name": "Mugs", "attributes": [
        {"name": "volume_ml", "type": "number", "facet": true},
        {"name": "colour", "type": "enum", "values": ["white", "blue"]}
    ]});
    assert_eq!(define(second).await.unwrap().status(), StatusCode::OK);

    let one = get(&world, "/product-types/mug", None).await;
    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(one.headers().get(ETAG).unwrap().to_str().unwrap(), "\"2\"");
    let one: Value = one.json().await.unwrap();
    assert_eq!(
        (&one["key"], &one["name"], &one["version"]),
        (&json!("mug"), &json!("Mugs"), &json!(2))
    );
    let names: Vec<&str> = one["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["volume_ml", "colour"]);
    assert_eq!(one["attributes"][1]["values"], json!(["white", "blue"]));

    let all: Value = get(&world, "/product-types", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    assert_eq!(all["items"][0], one);

    assert_eq!(
        get(&world, "/product-types/teapot", None).await.status(),
        StatusCode::NOT_FOUND
    );
}
