//! `/health/live` and `/health/ready`, the same on every service.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use sqlx::PgPool;

use crate::problem::Problem;
use crate::redis_model::RedisReadModel;

/// What readiness checks. PostgreSQL is always required; Redis is either required (without it
/// the process cannot work) or optional (the process degrades without it and stays ready).
#[derive(Clone)]
pub struct Checks {
    pub pool: PgPool,
    pub redis: Option<(RedisReadModel, Need)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

/// Health routes for a service whose readiness depends on PostgreSQL alone.
pub fn router(pool: PgPool) -> Router {
    router_with(Checks { pool, redis: None })
}

pub fn router_with(checks: Checks) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(checks)
}

/// 200 while the process runs.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    operation_id = "live",
    responses((status = 200, description = "The process runs", body = crate::openapi::Live)),
)]
pub(crate) async fn live() -> Json<Value> {
    Json(json!({"status": "live"}))
}

/// Each dependency gets one second: a probe must learn of an outage quickly rather than time
/// out itself.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// 200 when every dependency the service needs answers, else 503 naming which.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    operation_id = "ready",
    responses(
        (status = 200, description = "Every dependency the service needs answers",
         body = crate::openapi::Ready),
        (status = 503, description = "A dependency the service needs does not answer: the \
         problem's `detail` names it, its `checks` member has every dependency's state",
         body = crate::openapi::ProblemDoc, content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    ),
)]
pub(crate) async fn ready(State(checks): State<Checks>) -> Response {
    let mut results = Map::new();
    let mut down = Vec::new();
    let postgres =
        tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&checks.pool)).await;
    match postgres {
        Ok(Ok(_)) => {
            results.insert("postgres".into(), "up".into());
        }
        Ok(Err(err)) => {
            tracing::warn!(dependency = "postgres", error = %err, "not ready");
            results.insert("postgres".into(), "down".into());
            down.push("postgres");
        }
        Err(_) => {
            tracing::warn!(dependency = "postgres", "not ready: no answer within 1 s");
            results.insert("postgres".into(), "down".into());
            down.push("postgres");
        }
    }
    if let Some((redis, need)) = &checks.redis {
        let up = matches!(
            tokio::time::timeout(CHECK_TIMEOUT, redis.ping()).await,
            Ok(Ok(()))
        );
        let state = match (up, need) {
            (true, _) => "up",
            (false, Need::Optional) => "degraded",
            (false, Need::Required) => "down",
        };
        if !up {
            tracing::warn!(dependency = "redis", state, "Redis does not answer");
        }
        if state == "down" {
            down.push("redis");
        }
        results.insert("redis".into(), state.into());
    }
    if down.is_empty() {
        return Json(json!({"status": "ready", "checks": results})).into_response();
    }
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
        "Not ready",
        format!("{} unavailable", down.join(" and ")),
    )
    .with_extension("checks", Value::Object(results))
    .retry_after(2)
    .into_response()
}
