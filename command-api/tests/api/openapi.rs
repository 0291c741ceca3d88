//! The OpenAPI document and the docs page: `GET /openapi.json` describes every command route of
//! docs/API.md, `GET /docs` serves Swagger UI from the binary.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

/// Every command route of docs/API.md: (method, path).
const COMMANDS: [(&str, &str); 15] = [
    ("post", "/products"),
    ("patch", "/products/{id}"),
    ("put", "/products/{id}/price"),
    ("post", "/products/{id}/stock-adjustments"),
    ("post", "/products/{id}/publish"),
    ("post", "/products/{id}/unpublish"),
    ("delete", "/products/{id}"),
    ("post", "/products/{id}/images"),
    ("delete", "/products/{id}/images/{image_id}"),
    ("post", "/products/{id}/variants"),
    ("patch", "/products/{id}/variants/{variant_id}"),
    ("delete", "/products/{id}/variants/{variant_id}"),
    (
        "post",
        "/products/{id}/variants/{variant_id}/stock-adjustments",
    ),
    ("put", "/products/{id}/variants/{variant_id}/prices"),
    ("put", "/products/{id}/prices"),
];

const OPERATIONAL: [&str; 5] = [
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
];

async fn document(app: &TestApp) -> Value {
    // Public, like health: no token.
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    response.json().await.expect("the document is JSON")
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_document_is_openapi_3_1_with_every_command_route(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].as_str().is_some());
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    for (method, path) in COMMANDS {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is documented");
        assert_eq!(
            operation["security"],
            serde_json::json!([{"bearer": ["catalog:write"]}]),
            "{method} {path} needs a write token"
        );
        let responses = operation["responses"].as_object().unwrap();
        for status in ["400", "401", "403", "422", "429", "503"] {
            assert!(responses.contains_key(status), "{method} {path} {status}");
        }
        let success = responses
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .map_or_else(
                || panic!("{method} {path} documents its success"),
                |(_, response)| response,
            );
        assert_eq!(
            success["headers"]["ETag"]["required"], true,
            "{method} {path}"
        );
    }
    for path in OPERATIONAL {
        assert!(doc["paths"][path]["get"].is_object(), "GET {path}");
        assert!(
            doc["paths"][path]["get"]["security"].is_null(),
            "{path} is public"
        );
    }
    let created = &doc["paths"]["/products"]["post"]["responses"]["201"];
    assert_eq!(created["headers"]["Location"]["required"], true);
    let upload = &doc["paths"]["/products/{id}/images"]["post"]["requestBody"]["content"];
    assert!(upload["multipart/form-data"].is_object());
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_document_has_the_bearer_scheme_bodies_and_problems(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let doc = document(&app).await;
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    assert_eq!(bearer["bearerFormat"], "JWT");

    let schemas = &doc["components"]["schemas"];
    let create = &schemas["CreateProduct"];
    assert_eq!(
        create["required"],
        serde_json::json!(["sku", "name", "price"])
    );
    assert_eq!(create["properties"]["sku"]["maxLength"], 64);
    // A LocalizedString: a plain string or texts per locale, each under the name's rule
    assert_eq!(create["properties"]["name"]["oneOf"][0]["maxLength"], 200);
    assert_eq!(
        create["properties"]["name"]["oneOf"][1]["additionalProperties"]["maxLength"],
        200
    );
    // A typed product may have up to its type's 100 attributes
    assert_eq!(create["properties"]["attributes"]["maxProperties"], 100);
    assert_eq!(
        schemas["Money"]["properties"]["amount"]["maximum"],
        1_000_000_000_000_i64
    );
    let currencies = schemas["Money"]["properties"]["currency"]["enum"]
        .as_array()
        .unwrap();
    assert!(currencies.contains(&Value::from("EUR")));
    for (schema, fields) in [
        ("Accepted", &["id", "version"][..]),
        ("ImageAccepted", &["id", "version", "image_id"][..]),
        ("StockAdjustment", &["delta", "reason"][..]),
        ("Problem", &["type", "title", "status", "detail"][..]),
    ] {
        assert_eq!(
            schemas[schema]["required"],
            serde_json::json!(fields),
            "{schema}"
        );
    }
    assert_eq!(
        schemas["Problem"]["properties"]["errors"]["items"]["$ref"],
        "#/components/schemas/FieldViolation"
    );
    let unauthorized = &doc["components"]["responses"]["Unauthorized"];
    assert!(unauthorized["content"]["application/problem+json"].is_object());
    assert_eq!(
        unauthorized["headers"]["WWW-Authenticate"]["required"],
        true
    );
    let limited = &doc["components"]["responses"]["TooManyRequests"];
    assert_eq!(limited["headers"]["Retry-After"]["required"], true);
    // Every reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        assert!(
            doc.pointer(target.trim_start_matches('#')).is_some(),
            "{target} resolves"
        );
    }
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_docs_page_is_served_from_the_binary(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in ["/docs", "/docs/"] {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        // Its own policy: the API's `default-src 'none'` would keep Swagger UI from running.
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("script-src 'self' 'unsafe"), "{policy}");
        let page = response.text().await.unwrap();
        assert!(page.contains("swagger-ui"), "{path} is Swagger UI");
        // Offline: every asset is a relative path served by the service itself.
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
    for (asset, content_type) in [
        ("swagger-ui.css", "css"),
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-initializer.js", "javascript"),
    ] {
        let response = app
            .client
            .get(format!("{}/docs/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let served_as = response.headers()["content-type"].to_str().unwrap();
        assert!(served_as.contains(content_type), "{asset}: {served_as}");
        if asset == "swagger-initializer.js" {
            assert!(response.text().await.unwrap().contains("/openapi.json"));
        }
    }
    let missing = app
        .client
        .get(format!("{}/docs/nothing-here.js", app.base))
        .send()
        .await
        .unwrap();
    assert_problem(missing, StatusCode::NOT_FOUND).await;
}
