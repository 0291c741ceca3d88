//! The console's files as query-api serves them: the page with its Content-Security-Policy, the
//! assets revalidated by ETag, and the configuration naming the command API. The console itself
//! is exercised in Chromium by `tests/console`.

use catalog_testkit::*;
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

async fn world(pool: PgPool, command_api: Option<&str>) -> (World, String) {
    let world = World::start(
        pool,
        Options {
            query_api: true,
            query_api_env: command_api
                .map(|origin| vec![("CONSOLE_COMMAND_API_ORIGIN", origin.to_string())])
                .unwrap_or_default(),
            ..Options::new(false, false)
        },
    )
    .await;
    let base = world.query.as_ref().unwrap().0.clone();
    (world, base)
}

async fn config(client: &reqwest::Client, base: &str) -> Value {
    let response = client
        .get(format!("{base}/console/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-cache");
    response.json().await.unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_console_is_served_with_its_own_policy(pool: PgPool) {
    let (_world, base) = world(pool, Some("http://127.0.0.1:18080")).await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();

    for path in ["/", "/console"] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT, "{path}");
        assert_eq!(response.headers()["location"], "/console/");
    }

    let page = client.get(format!("{base}/console/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        csp.contains("connect-src 'self' http://127.0.0.1:18080"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="app.js">"#));

    let config = config(&client, &base).await;
    assert_eq!(config["command_api"], "http://127.0.0.1:18080");
    // The forms' limits are the domain's rules, as the console's inputs state them.
    assert_eq!(
        config["limits"],
        json!({"sku": 64, "name": 200, "description": 5000, "category": 100, "reason": 200})
    );
    assert_eq!(config["sku_pattern"], "[A-Za-z0-9._\\-]+");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn console_files_are_revalidated_by_etag(pool: PgPool) {
    let (world, base) = world(pool, None).await;
    let script = world
        .client
        .get(format!("{base}/console/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(script.headers()["cache-control"], "no-cache");
    let etag = script.headers()["etag"].clone();
    assert!(!script.bytes().await.unwrap().is_empty());

    let again = world
        .client
        .get(format!("{base}/console/app.js"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag);

    let other = world
        .client
        .get(format!("{base}/console/console.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.headers()["content-type"], "text/css; charset=utf-8");
    assert_ne!(other.headers()["etag"], etag, "each file has its own tag");

    for missing in ["/console/nope.js", "/console/..%2Fsrc%2Fmain.rs"] {
        let response = world
            .client
            .get(format!("{base}{missing}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }

    // Without a command API the console only reads.
    assert_eq!(
        config(&world.client, &base).await["command_api"],
        Value::Null
    );
}
