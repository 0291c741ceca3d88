//! Catalog 2 on the write side: product types (`PUT /product-types/{key}`, scope
//! `catalog:admin`), typed attributes checked against them, and localized text.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

fn mug_type() -> Value {
    json!({
        "name": "Mug",
        "attributes": [
            {"name": "material", "type": "ltext", "required": true},
            {"name": "volume_ml", "type": "number", "facet": true},
            {"name": "colour", "type": "enum", "values": ["white", "blue"]},
            {"name": "released", "type": "date"},
            {"name": "size", "type": "enum", "values": ["S", "M"], "level": "variant"}
        ]
    })
}

async fn define(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    let admin = app.token_for("admin", "catalog:admin");
    app.client
        .put(format!("{}/product-types/{key}", app.base))
        .bearer_auth(admin)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn type_events(app: &TestApp, key: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'ProductType' AND aggregate_id = $1",
    )
    .bind(key)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_type_is_created_then_changed_only_compatibly(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // The write scope alone may not define types
    let denied = app
        .request(Method::PUT, "/product-types/mug")
        .json(&mug_type())
        .send()
        .await
        .unwrap();
    assert_problem(denied, StatusCode::FORBIDDEN).await;
    assert_eq!(type_events(&app, "mug").await, 0);

    let created = define(&app, "mug", &mug_type()).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(etag(&created).as_deref(), Some("\"1\""));
    assert_eq!(
        created.json::<Value>().await.unwrap(),
        json!({"key": "mug", "version": 1})
    );

    // The same definition again: 200 at the same version, nothing written
    let again = define(&app, "mug", &mug_type()).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["version"], 1);
    assert_eq!(type_events(&app, "mug").await, 1);

    // A compatible change: an optional attribute and an enum value added
    let mut wider = mug_type();
    wider["attributes"][2]["values"] = json!(["white", "blue", "green"]);
    wider["attributes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "gift_box", "type": "boolean"}));
    let changed = define(&app, "mug", &wider).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.json::<Value>().await.unwrap()["version"], 2);

    // Incompatible: an attribute removed and a type changed; both named, nothing written
    let mut narrower = wider.clone();
    narrower["attributes"].as_array_mut().unwrap().remove(3);
    narrower["attributes"][1]["type"] = json!("text");
    let refused = define(&app, "mug", &narrower).await;
    let problem = assert_problem(refused, StatusCode::CONFLICT).await;
    assert_eq!(
        problem["type"],
        "urn:catalog:problem:incompatible-type-change"
    );
    assert_eq!(error_fields(&problem), ["attributes", "attributes[1].type"]);
    assert_eq!(type_events(&app, "mug").await, 2);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_bad_definition_is_422_with_every_rule_and_a_bad_kind_is_400(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let bad = json!({
        "name": "",
        "attributes": [
            {"name": "Colour", "type": "enum"},
            {"name": "a", "type": "text"},
            {"name": "a", "type": "number"}
        ]
    });
    let problem = assert_problem(
        define(&app, "Bad_Key", &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error_fields(&problem),
        [
            "attributes[0].name",
            "attributes[0].values",
            "attributes[2].name",
            "key",
            "name"
        ]
    );
    let unknown_kind = json!({"name": "X", "attributes": [{"name": "a", "type": "colour"}]});
    assert_problem(
        define(&app, "x", &unknown_kind).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(type_events(&app, "x").await, 0);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn typed_products_are_checked_against_their_type(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    assert_eq!(
        define(&app, "mug", &mug_type()).await.status(),
        StatusCode::CREATED
    );
    let mut body = product_body("MUG-1");
    body["type"] = json!("mug");
    body["attributes"] = json!({
        "material": {"en": "porcelain", "de": "Porzellan"},
        "volume_ml": 350,
        "colour": "blue",
        "released": "2026-03-01"
    });
    let created = app.create(body.clone()).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Every broken rule at once, and no SKU taken by the refusal
    body["sku"] = json!("MUG-2");
    body["attributes"] = json!({
        "volume_ml": "big",
        "colour": "purple",
        "released": "2026-02-30",
        "size": "M",
        "handle": "round"
    });
    let problem = assert_problem(
        app.create(body.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error_fields(&problem),
        [
            "attributes.colour",
            "attributes.handle",
            "attributes.material",
            "attributes.released",
            "attributes.size",
            "attributes.volume_ml",
        ]
    );
    body["type"] = json!("no-such-type");
    let problem = assert_problem(app.create(body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(error_fields(&problem).contains(&"type".to_string()));
    assert_eq!(
        app.event_count().await,
        2,
        "only the type and the first product were stored"
    );

    // The type is fixed at creation; a typed update is checked whole
    let patch = app
        .send(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({"type": "cup"})),
        )
        .await;
    let problem = assert_problem(patch, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["type"]);
    let patch = app
        .send(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({"attributes": {"volume_ml": 300}})),
        )
        .await;
    let problem = assert_problem(patch, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["attributes.material"]);
    let patch = app
        .send(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({"attributes": {"material": "stoneware", "volume_ml": 300.5}})),
        )
        .await;
    assert_eq!(patch.status(), StatusCode::OK);
    let events = app.events(&id).await;
    assert_eq!(
        events[1].2["DetailsUpdated"]["attributes"],
        json!({"material": {"en": "stoneware"}, "volume_ml": 300.5})
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn localized_text_is_stored_per_locale_at_the_current_event_version(pool: PgPool) {
    let app = TestApp::spawn_with(pool, &[("DEFAULT_LOCALE", "de")]).await;
    let mut body = product_body("CUP-L");
    body["name"] = json!({"en": "Cup", "de-ch": "Tasse"});
    body["description"] = json!("Porzellan");
    let created = app.create(body.clone()).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (version, payload): (String, Value) = sqlx::query_as(
        "SELECT event_version, payload FROM events WHERE aggregate_id = $1 AND sequence = 1",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(version, "3");
    // Tags in canonical case; a plain string in the default locale
    assert_eq!(
        payload["ProductCreated"]["name"],
        json!({"de-CH": "Tasse", "en": "Cup"})
    );
    assert_eq!(
        payload["ProductCreated"]["description"],
        json!({"de": "Porzellan"})
    );

    // Every bad locale rule at once, nothing written
    body["sku"] = json!("CUP-M");
    body["name"] = json!({"en": "", "not a tag": "x", "fr": "n".repeat(201)});
    body["description"] = json!({});
    let problem = assert_problem(
        app.create(body.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error_fields(&problem),
        ["description", "name.en", "name.fr", "name.not a tag"]
    );
    // An untyped product's attributes stay strings
    body["name"] = json!("Tasse");
    body["description"] = Value::Null;
    body["attributes"] = json!({"weight": 5});
    assert_problem(app.create(body).await, StatusCode::BAD_REQUEST).await;
    let patched = app
        .request(Method::PATCH, &format!("/products/{id}"))
        .json(&json!({"attributes": {"weight": 5}}))
        .send()
        .await
        .unwrap();
    assert_problem(patched, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.event_count().await, 1);
}
