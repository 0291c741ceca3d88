//! The OpenAPI document and the docs page: `GET /openapi.json` describes every read route of
//! docs/API.md, `GET /docs` serves Swagger UI from the binary.

use catalog_testkit::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

/// query-api alone: the document needs no relay, projector or broker.
fn reader() -> Options {
    Options {
        query_api: true,
        ..Options::new(false, false)
    }
}

async fn document(world: &World) -> Value {
    let response = world.read("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    response.json().await.expect("the document is JSON")
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_document_is_openapi_3_1_with_every_read_route(pool: PgPool) {
    let world = World::start(pool, reader()).await;
    let doc = document(&world).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let audit = json!([{"bearer": ["catalog:audit"]}]);
    for (path, security) in [
        ("/products/{id}", Value::Null),
        ("/products", Value::Null),
        ("/products/{id}/history", audit.clone()),
        ("/products/{id}/versions/{n}", audit.clone()),
        ("/images/{image_id}/{file}", Value::Null),
        ("/health/live", Value::Null),
        ("/health/ready", Value::Null),
        ("/metrics", Value::Null),
        ("/openapi.json", Value::Null),
        ("/docs", Value::Null),
    ] {
        let operation = &doc["paths"][path]["get"];
        assert!(operation.is_object(), "GET {path} is documented");
        assert_eq!(operation["security"], security, "GET {path}");
    }
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    assert_eq!(bearer["bearerFormat"], "JWT");

    let by_id = &doc["paths"]["/products/{id}"]["get"]["responses"];
    assert_eq!(by_id["200"]["headers"]["ETag"]["required"], true);
    assert!(by_id["304"].is_object());
    assert_eq!(by_id["503"]["$ref"], "#/components/responses/Unavailable");
    let list = &doc["paths"]["/products"]["get"];
    let parameter = |name: &str| {
        list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("parameter {name}"))["schema"]
            .clone()
    };
    assert_eq!(parameter("limit")["maximum"], 100);
    assert_eq!(
        parameter("status")["enum"],
        json!(["draft", "published", "archived"])
    );
    assert_eq!(
        parameter("sort")["enum"],
        json!([
            "relevance",
            "name",
            "-name",
            "price",
            "-price",
            "updated",
            "-updated"
        ])
    );
    assert_eq!(
        list["responses"]["422"]["$ref"],
        "#/components/responses/Unprocessable"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_document_describes_views_pages_and_history(pool: PgPool) {
    let world = World::start(pool, reader()).await;
    let doc = document(&world).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ProductPage"]["properties"]["next_cursor"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(
        schemas["ProductPage"]["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/ProductView"
    );
    let view = &schemas["ProductView"]["properties"];
    for field in [
        "id", "sku", "name", "price", "stock", "status", "images", "version",
    ] {
        assert!(view[field].is_object(), "ProductView.{field}");
    }
    assert_eq!(
        schemas["ProductStatus"]["enum"],
        json!(["draft", "published", "archived"])
    );
    assert_eq!(
        schemas["ImageStatus"]["enum"],
        json!(["processing", "ready", "failed"])
    );
    assert!(schemas["RenditionView"].is_object());
    let entry = &schemas["HistoryEntry"]["properties"];
    for field in [
        "sequence",
        "type",
        "data",
        "recorded_at",
        "actor",
        "correlation_id",
        "causation_id",
        "event_id",
        "event_version",
        "hash",
    ] {
        assert!(entry[field].is_object(), "HistoryEntry.{field}");
    }
    assert_eq!(entry["hash"]["pattern"], "^[0-9a-f]{64}$");
    assert!(schemas["HistoryPage"]["properties"]["next_after"].is_object());
    let problem = &schemas["Problem"];
    assert_eq!(
        problem["required"],
        json!(["type", "title", "status", "detail"])
    );
    let unauthorized = &doc["components"]["responses"]["Unauthorized"];
    assert!(unauthorized["content"]["application/problem+json"].is_object());
    assert_eq!(
        unauthorized["headers"]["WWW-Authenticate"]["required"],
        true
    );
    // Every reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        let pointer = target.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "{target} resolves");
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_docs_page_is_served_from_the_binary(pool: PgPool) {
    let world = World::start(pool, reader()).await;
    let response = world.read("/docs", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains("swagger-ui"));
    assert!(!page.contains("http://") && !page.contains("https://"));
    let bundle = world.read("/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(bundle.status(), StatusCode::OK);
}
