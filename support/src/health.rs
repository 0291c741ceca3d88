//! `/health/live` and `/health/ready`, the same on every service.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;

use crate::problem::Problem;

/// Health routes for a service whose readiness depends on PostgreSQL.
pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(pool)
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "live"}))
}

/// Ready when PostgreSQL answers within a second. A short bound, so that a load balancer's
/// probe learns of an outage quickly instead of timing out itself.
async fn ready(State(pool): State<PgPool>) -> Response {
    let check = tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query("SELECT 1").execute(&pool),
    )
    .await;
    let reason = match check {
        Ok(Ok(_)) => {
            return Json(json!({"status": "ready", "checks": {"postgres": "up"}})).into_response()
        }
        Ok(Err(err)) => err.to_string(),
        Err(_) => "no answer within 1 s".to_string(),
    };
    tracing::warn!(dependency = "postgres", reason, "not ready");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
        "Not ready",
        "postgres is unavailable",
    )
    .with_extension("checks", json!({"postgres": "down"}))
    .retry_after(2)
    .into_response()
}
