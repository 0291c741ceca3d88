//! Authentication and authorisation of every command route: who may write, and who is recorded
//! as having written.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use catalog_support::auth::Authenticator;
use catalog_support::secret::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

/// A 1x1 PNG, so the upload route gets a real image if authentication ever let it through.
const PNG: [u8; 70] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f,
    0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

enum Payload {
    Nothing,
    Json(Value),
    Image,
}

/// One command route of docs/API.md, with a body that would be accepted.
struct Route {
    method: Method,
    path: String,
    payload: Payload,
}

impl Route {
    fn new(method: Method, path: String, payload: Payload) -> Self {
        Self {
            method,
            path,
            payload,
        }
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The request without any Authorization header.
    fn build(&self, app: &TestApp) -> RequestBuilder {
        let request = app
            .client
            .request(self.method.clone(), format!("{}{}", app.base, self.path));
        match &self.payload {
            Payload::Nothing => request,
            Payload::Json(body) => request.json(body),
            Payload::Image => {
                let part = Part::bytes(PNG.to_vec())
                    .file_name("pixel.png")
                    .mime_str("image/png")
                    .unwrap();
                request.multipart(Form::new().part("file", part))
            }
        }
    }
}

/// Every command route of the contract, aimed at the existing product `id`.
fn command_routes(id: &str) -> Vec<Route> {
    let image_id = uuid::Uuid::new_v4();
    vec![
        Route::new(
            Method::POST,
            "/products".into(),
            Payload::Json(product_body("AUTH-NEW")),
        ),
        Route::new(
            Method::PATCH,
            format!("/products/{id}"),
            Payload::Json(json!({"name": "Renamed"})),
        ),
        Route::new(
            Method::PUT,
            format!("/products/{id}/price"),
            Payload::Json(json!({"amount": 999, "currency": "EUR"})),
        ),
        Route::new(
            Method::POST,
            format!("/products/{id}/stock-adjustments"),
            Payload::Json(json!({"delta": 5, "reason": "restock"})),
        ),
        Route::new(
            Method::POST,
            format!("/products/{id}/publish"),
            Payload::Nothing,
        ),
        Route::new(
            Method::POST,
            format!("/products/{id}/unpublish"),
            Payload::Nothing,
        ),
        Route::new(Method::DELETE, format!("/products/{id}"), Payload::Nothing),
        Route::new(
            Method::POST,
            format!("/products/{id}/images"),
            Payload::Image,
        ),
        Route::new(
            Method::DELETE,
            format!("/products/{id}/images/{image_id}"),
            Payload::Nothing,
        ),
    ]
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs arbitrary claims, so tests can build tokens the service must refuse.
fn sign(claims: &Value, algorithm: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Claims the service would accept, apart from whatever a test changes.
fn claims(sub: &str, scope: &str) -> Value {
    json!({"sub": sub, "scope": scope, "exp": now() + 600, "iat": now()})
}

/// Base64url without padding, as JWT segments are written.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

/// A token assembled segment by segment from raw JSON, HS256-signed with the service's secret:
/// the control that shows hand-built tokens are refused only for what a test changed.
fn hand_signed(header: &str, payload: &str) -> String {
    let message = format!(
        "{}.{}",
        base64url(header.as_bytes()),
        base64url(payload.as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}

/// POST /products with the given Authorization header value (or none).
async fn create_with(app: &TestApp, authorization: Option<&str>, sku: &str) -> Response {
    let request = app
        .client
        .post(format!("{}/products", app.base))
        .json(&product_body(sku));
    let request = match authorization {
        Some(value) => request.header("authorization", value),
        None => request,
    };
    request.send().await.unwrap()
}

/// Asserts a 401 problem with a Bearer challenge, and that the body gives away neither the
/// secret nor the token it was sent.
async fn assert_unauthorized(response: Response, context: &str, token: Option<&str>) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{context}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        challenge.starts_with("Bearer"),
        "{context}: WWW-Authenticate is {challenge:?}"
    );
    let problem = assert_problem(response, StatusCode::UNAUTHORIZED).await;
    let text = problem.to_string();
    assert!(
        !text.contains(SECRET),
        "{context}: the body shows the secret"
    );
    if let Some(token) = token {
        assert!(!text.contains(token), "{context}: the body shows the token");
    }
}

/// Asserts that a refused create wrote nothing and left its SKU free.
async fn assert_nothing_written(app: &TestApp, sku: &str) {
    assert_eq!(
        app.event_count().await,
        0,
        "a refused request wrote an event"
    );
    let response = app.create(product_body(sku)).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the SKU of a refused request must stay free"
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_request_without_a_token_gets_401_with_a_bearer_challenge_on_every_command_route(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("AUTH-1").await;
    let before = app.event_count().await;
    for route in command_routes(&id) {
        let response = route.build(&app).send().await.unwrap();
        assert_unauthorized(response, &route.name(), None).await;
    }
    assert_eq!(app.event_count().await, before, "no event may be written");
    // The create route's SKU was not reserved either.
    let response = app.create(product_body("AUTH-NEW")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_token_without_catalog_write_gets_403_on_every_command_route(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = app.create_product("AUTH-2").await;
    let before = app.event_count().await;
    let auditor = app.token_for("auditor", "catalog:audit");
    for route in command_routes(&id) {
        let response = route
            .build(&app)
            .bearer_auth(&auditor)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{}", route.name());
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    assert_eq!(app.event_count().await, before, "no event may be written");
    let events = app.events(&id).await;
    assert_eq!(events.len(), 1, "the product is untouched");
    let response = app.create(product_body("AUTH-NEW")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_request_for_an_unknown_product_without_a_token_gets_401_not_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for route in command_routes(&unknown) {
        let response = route.build(&app).send().await.unwrap();
        assert_unauthorized(response, &route.name(), None).await;
    }
    let auditor = app.token_for("auditor", "catalog:audit");
    let response = app
        .client
        .post(format!("{}/products/{unknown}/publish", app.base))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_token_signed_with_another_secret_gets_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let forged = Authenticator::new(&Secret::new("other"), Duration::ZERO).issue(
        "mallory",
        "catalog:write",
        Duration::from_secs(600),
    );
    let response = create_with(&app, Some(&format!("Bearer {forged}")), "FORGED-1").await;
    assert_unauthorized(response, "forged token", Some(&forged)).await;
    assert_nothing_written(&app, "FORGED-1").await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_token_whose_claims_were_altered_after_signing_gets_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // A genuine token for an auditor, its claims swapped for a writer's, its signature kept.
    let genuine = app.token_for("auditor", "catalog:audit");
    let parts: Vec<&str> = genuine.split('.').collect();
    assert_eq!(parts.len(), 3);
    let writer_claims = claims("auditor", "catalog:write").to_string();
    let altered = format!(
        "{}.{}.{}",
        parts[0],
        base64url(writer_claims.as_bytes()),
        parts[2]
    );
    let response = create_with(&app, Some(&format!("Bearer {altered}")), "ALTERED-1").await;
    assert_unauthorized(response, "altered token", Some(&altered)).await;
    assert_eq!(app.event_count().await, 0);
    // Control: the same claims, signed, are accepted.
    let signed = hand_signed(r#"{"alg":"HS256","typ":"JWT"}"#, &writer_claims);
    let response = create_with(&app, Some(&format!("Bearer {signed}")), "ALTERED-1").await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_expired_token_gets_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let expired = sign(
        &json!({"sub": "tester", "scope": "catalog:write", "exp": now() - 120, "iat": now() - 720}),
        Algorithm::HS256,
        SECRET,
    );
    let response = create_with(&app, Some(&format!("Bearer {expired}")), "EXPIRED-1").await;
    assert_unauthorized(response, "expired token", Some(&expired)).await;
    assert_nothing_written(&app, "EXPIRED-1").await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_token_without_an_expiry_gets_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let endless = sign(
        &json!({"sub": "tester", "scope": "catalog:write", "iat": now()}),
        Algorithm::HS256,
        SECRET,
    );
    let response = create_with(&app, Some(&format!("Bearer {endless}")), "ENDLESS-1").await;
    assert_unauthorized(response, "token without exp", Some(&endless)).await;
    assert_nothing_written(&app, "ENDLESS-1").await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn an_unsigned_alg_none_token_gets_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mallory = claims("mallory", "catalog:write").to_string();
    let payload = base64url(mallory.as_bytes());
    let genuine = app.token_for("tester", "catalog:write");
    let genuine_signature = genuine.rsplit('.').next().unwrap();
    for alg in ["none", "None", "NONE"] {
        let header = base64url(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
            format!("{header}.{payload}.{genuine_signature}"),
        ] {
            let response = create_with(&app, Some(&format!("Bearer {token}")), "NONE-1").await;
            assert_unauthorized(response, &format!("alg {alg}: {token}"), None).await;
        }
    }
    assert_eq!(app.event_count().await, 0);
    // Control: the same header and claims with alg HS256 and a signature are accepted, as
    // mallory.
    let signed = hand_signed(r#"{"alg":"HS256","typ":"JWT"}"#, &mallory);
    let response = create_with(&app, Some(&format!("Bearer {signed}")), "NONE-1").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.events(&id).await[0].3["actor"], "mallory");
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_token_signed_with_hs384_or_hs512_and_the_right_secret_gets_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign(&claims("tester", "catalog:write"), algorithm, SECRET);
        let response = create_with(&app, Some(&format!("Bearer {token}")), "ALG-1").await;
        assert_unauthorized(response, &format!("{algorithm:?}"), Some(&token)).await;
    }
    // The same claims signed with HS256 pass: only the algorithm was refused.
    let token = sign(&claims("tester", "catalog:write"), Algorithm::HS256, SECRET);
    let response = create_with(&app, Some(&format!("Bearer {token}")), "ALG-1").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(app.event_count().await, 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_malformed_authorization_header_gets_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let valid = app.token_for("tester", "catalog:write");
    let values = [
        "Basic abc".to_string(),
        "Basic dGVzdGVyOnNlY3JldA==".to_string(),
        "Bearer".to_string(),
        "Bearer ".to_string(),
        "Bearer not-a-jwt".to_string(),
        "Bearer a.b.c".to_string(),
        "Bearer ..".to_string(),
        // A valid token under another scheme, or with no scheme at all.
        format!("Token {valid}"),
        valid.clone(),
        format!("Bearer{valid}"),
    ];
    for value in &values {
        let response = create_with(&app, Some(value), "MALFORMED-1").await;
        assert_unauthorized(response, &format!("Authorization: {value:?}"), None).await;
    }
    assert_nothing_written(&app, "MALFORMED-1").await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_token_with_an_empty_or_missing_subject_gets_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let exp = now() + 600;
    for claims in [
        json!({"sub": "", "scope": "catalog:write", "exp": exp}),
        json!({"sub": "   ", "scope": "catalog:write", "exp": exp}),
        json!({"scope": "catalog:write", "exp": exp}),
    ] {
        let token = sign(&claims, Algorithm::HS256, SECRET);
        let response = create_with(&app, Some(&format!("Bearer {token}")), "NOSUB-1").await;
        assert_unauthorized(response, &claims.to_string(), None).await;
    }
    assert_nothing_written(&app, "NOSUB-1").await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_scope_that_only_resembles_catalog_write_gets_403(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let exp = now() + 600;
    let mut tokens: Vec<(String, String)> = [
        "",
        "catalog",
        "catalog:writer",
        "catalog:write:all",
        "CATALOG:WRITE",
        "catalog:read catalog:audit",
        "catalog:write,catalog:audit",
    ]
    .iter()
    .map(|scope| (format!("scope {scope:?}"), app.token_for("tester", scope)))
    .collect();
    tokens.push((
        "no scope claim".into(),
        sign(
            &json!({"sub": "tester", "exp": exp}),
            Algorithm::HS256,
            SECRET,
        ),
    ));
    for (context, token) in &tokens {
        let response = create_with(&app, Some(&format!("Bearer {token}")), "SCOPE-1").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{context}");
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    assert_nothing_written(&app, "SCOPE-1").await;
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_token_with_catalog_write_among_other_scopes_is_accepted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.token_for("tester", "catalog:audit catalog:write openid");
    let response = create_with(&app, Some(&format!("Bearer {token}")), "MULTI-1").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(app.event_count().await, 1);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_bearer_scheme_is_matched_without_regard_to_case(pool: PgPool) {
    // RFC 9110 §11.1: the authentication scheme is case-insensitive.
    let app = TestApp::spawn(pool).await;
    for (i, scheme) in ["bearer", "BEARER"].iter().enumerate() {
        let response = create_with(
            &app,
            Some(&format!("{scheme} {}", app.token)),
            &format!("CASE-{i}"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{scheme}");
    }
    assert_eq!(app.event_count().await, 2);
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_subject_of_the_token_is_recorded_as_the_actor_of_each_event(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let alice = app.token_for("alice", "catalog:write");
    let bob = app.token_for("bob@example.com", "catalog:write catalog:audit");

    let response = create_with(&app, Some(&format!("Bearer {alice}")), "ACTOR-1").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let response = app
        .client
        .post(format!("{}/products/{id}/stock-adjustments", app.base))
        .bearer_auth(&bob)
        .json(&json!({"delta": 2, "reason": "recount"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .send(Method::POST, &format!("/products/{id}/publish"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let events = app.events(&id).await;
    let actors: Vec<&str> = events
        .iter()
        .map(|(_, _, _, metadata)| metadata["actor"].as_str().unwrap_or("<none>"))
        .collect();
    assert_eq!(actors, ["alice", "bob@example.com", "tester"]);
}
