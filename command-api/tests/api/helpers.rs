use std::time::Duration;

use catalog_support::auth::Authenticator;
use catalog_support::config::from_pairs;
use catalog_support::secret::Secret;
use catalog_support::shutdown::Shutdown;
use command_api::{Application, Config};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

pub const SECRET: &str = "integration-test-secret";

/// One running command-api on a port of its own, over the test's own database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    /// A token with `catalog:write` for the actor "tester".
    pub token: String,
    auth: Authenticator,
    shutdown: Shutdown,
    blob_dir: std::path::PathBuf,
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with(pool, &[]).await
    }

    pub async fn spawn_with(pool: PgPool, extra: &[(&str, &str)]) -> Self {
        // A namespace of its own keeps this test's rate-limit keys apart from every other test's.
        let namespace = format!("t{}", uuid::Uuid::new_v4().simple());
        let blob_dir = std::env::temp_dir().join(format!("catalog-blobs-{namespace}"));
        let blobs = format!("file://{}", blob_dir.display());
        // The first value of a variable wins: settings a test passes override these defaults.
        let mut pairs = extra.to_vec();
        pairs.extend_from_slice(&[
            ("CATALOG_NAMESPACE", namespace.as_str()),
            ("BLOB_STORE", blobs.as_str()),
            ("JWT_SECRET", SECRET),
            ("COMMAND_API_ADDR", "127.0.0.1:0"),
            ("JWT_LEEWAY_SECS", "0"),
            ("RELAY_ENABLED", "false"),
        ]);
        let config = Config::from_env(&from_pairs(&pairs)).expect("test config is valid");
        let app = Application::with_pool(config, pool.clone())
            .await
            .expect("application builds");
        let base = format!("http://{}", app.local_addr());
        let shutdown = Shutdown::default();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let auth = Authenticator::new(&Secret::new(SECRET), Duration::ZERO);
        let token = auth.issue("tester", "catalog:write", Duration::from_secs(600));
        Self {
            base,
            client: reqwest::Client::new(),
            pool,
            token,
            auth,
            shutdown,
            blob_dir,
        }
    }

    /// The directory of this app's blob store.
    pub fn blob_dir(&self) -> &std::path::Path {
        &self.blob_dir
    }

    pub fn token_for(&self, subject: &str, scope: &str) -> String {
        self.auth.issue(subject, scope, Duration::from_secs(600))
    }

    /// A request with the default write token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let request = self.request(method, path);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.expect("request is sent")
    }

    pub async fn create(&self, body: Value) -> Response {
        self.send(Method::POST, "/products", Some(body)).await
    }

    /// Creates a valid product and returns its id.
    pub async fn create_product(&self, sku: &str) -> String {
        let response = self.create(product_body(sku)).await;
        assert_eq!(response.status(), StatusCode::CREATED, "creating {sku}");
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn adjust_stock(&self, id: &str, delta: i64) -> Response {
        self.send(
            Method::POST,
            &format!("/products/{id}/stock-adjustments"),
            Some(json!({"delta": delta, "reason": "test"})),
        )
        .await
    }

    /// The stored events of a product: (sequence, event_type, payload, metadata).
    pub async fn events(&self, id: &str) -> Vec<(i64, String, Value, Value)> {
        sqlx::query_as(
            "SELECT sequence, event_type, payload, metadata FROM events \
             WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
        let _ = std::fs::remove_dir_all(&self.blob_dir);
    }
}

pub fn product_body(sku: &str) -> Value {
    json!({
        "sku": sku,
        "name": "Espresso cup",
        "description": "Porcelain, 80 ml",
        "price": {"amount": 1299, "currency": "EUR"},
        "stock": 10,
        "category": "kitchen",
        "attributes": {"color": "white"}
    })
}

/// Asserts a problem+json response with `status`, and returns its body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["title"].as_str().is_some());
    assert!(body["detail"].as_str().is_some());
    body
}

/// The `field` names of a 422's `errors`, sorted.
pub fn error_fields(problem: &Value) -> Vec<String> {
    let mut fields: Vec<String> = problem["errors"]
        .as_array()
        .expect("a validation problem lists errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    fields.sort();
    fields
}

pub fn etag(response: &Response) -> Option<String> {
    response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
}
