use std::time::Duration;

use catalog_support::auth::Authenticator;
use catalog_support::secret::Secret;
use reqwest::{Method, StatusCode};
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn every_response_carries_the_security_headers(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app.create(product_body("SEC-1")).await;
    let refused = app.create(product_body("SEC-1")).await;
    let anonymous = app
        .client
        .post(format!("{}/products", app.base))
        .send()
        .await
        .unwrap();
    for response in [created, refused, anonymous] {
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
    }
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{}/products", app.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn cors_is_off_unless_origins_are_configured(pool: PgPool) {
    let closed = TestApp::spawn(pool.clone()).await;
    let response = preflight(&closed, "https://shop.example").await;
    assert!(!response
        .headers()
        .contains_key("access-control-allow-origin"));

    let open = TestApp::spawn_with(pool, &[("CORS_ALLOWED_ORIGINS", "https://shop.example")]).await;
    let allowed = preflight(&open, "https://shop.example").await;
    assert_eq!(allowed.status(), StatusCode::OK);
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example"
    );
    let allow_headers = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allow_headers.contains("idempotency-key"), "{allow_headers}");
    let other = preflight(&open, "https://evil.example").await;
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    // Browsers may read the version of what they wrote.
    let created = open
        .request(Method::POST, "/products")
        .header("origin", "https://shop.example")
        .json(&product_body("CORS-1"))
        .send()
        .await
        .unwrap();
    let exposed = created.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        exposed.contains("etag") && exposed.contains("location"),
        "{exposed}"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_configured_audience_and_issuer_are_enforced(pool: PgPool) {
    let app = TestApp::spawn_with(
        pool,
        &[
            ("JWT_AUDIENCE", "catalog"),
            ("JWT_ISSUER", "https://id.test"),
        ],
    )
    .await;
    // The default test token has neither claim.
    assert_problem(
        app.create(product_body("AUD-1")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let minted = Authenticator::new(&Secret::new(SECRET), Duration::ZERO)
        .expecting(Some("catalog"), Some("https://id.test"))
        .issue("tester", "catalog:write", Duration::from_secs(60));
    let accepted = app
        .client
        .post(format!("{}/products", app.base))
        .bearer_auth(minted)
        .json(&product_body("AUD-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::CREATED);
}
