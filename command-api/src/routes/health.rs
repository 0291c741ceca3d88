use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use catalog_support::problem::Problem;
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "live"}))
}

/// Ready when PostgreSQL answers within a second: without it no command can run.
async fn ready(State(state): State<AppState>) -> Response {
    let check = tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query("SELECT 1").execute(&state.pool),
    )
    .await;
    match check {
        Ok(Ok(_)) => Json(json!({"status": "ready", "checks": {"postgres": "up"}})).into_response(),
        Ok(Err(err)) => unready(format!("postgres: {err}")),
        Err(_) => unready("postgres: no answer within 1 s".to_string()),
    }
}

fn unready(reason: String) -> Response {
    tracing::warn!(reason, "not ready");
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
