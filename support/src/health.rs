//! `/health/live` and `/health/ready`, the same on every service.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::{join_all, BoxFuture};
use futures::FutureExt;
use serde_json::{json, Map, Value};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::problem::Problem;

/// How much a dependency matters: without a required one the process cannot do its work and
/// is not ready; without an optional one it works in a degraded way and stays ready.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Need {
    /// While it does not answer, readiness answers 503 and reports it `down`.
    Required,
    /// While it does not answer, readiness stays 200 and reports it `degraded`.
    Optional,
}

type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// One dependency readiness asks after, by name (`postgres`, `redis`, `rabbitmq`, `blobs`).
#[derive(Clone)]
pub struct Dependency {
    name: &'static str,
    need: Need,
    probe: Probe,
}

impl Dependency {
    /// A dependency checked by `probe`: `Ok` when it answers, `Err` with the reason (logged,
    /// not served) when it does not. A probe gets one second before it counts as not answering.
    pub fn new<F, Fut>(name: &'static str, need: Need, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            need,
            probe: Arc::new(move || probe().boxed()),
        }
    }

    /// PostgreSQL answers a query (every service needs it).
    pub fn postgres(pool: PgPool) -> Self {
        Self::postgres_named("postgres", pool)
    }

    /// A PostgreSQL server under another name (a read replica, say).
    pub fn postgres_named(name: &'static str, pool: PgPool) -> Self {
        Self::new(name, Need::Required, move || {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        })
    }

    /// A connection some long-running task holds (a consumer's or the relay's connection to
    /// RabbitMQ): up while the task reports it up. Asking the task rather than opening a
    /// connection per probe means readiness reflects the connection that does the work.
    pub fn link(name: &'static str, need: Need, link: Link) -> Self {
        Self::new(name, need, move || {
            let up = link.is_up();
            async move {
                if up {
                    Ok(())
                } else {
                    Err("not connected".to_string())
                }
            }
        })
    }
}

/// The state of a connection held by a task, shared with readiness.
#[derive(Clone, Default, Debug)]
pub struct Link(Arc<AtomicBool>);

impl Link {
    /// Reports the connection up or down; the task holding it calls this on connecting and on
    /// losing it.
    pub fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }

    /// Whether the connection was up when last reported; down until the first report.
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Health routes for a service whose readiness depends on PostgreSQL alone.
pub fn router(pool: PgPool) -> Router {
    router_with(vec![Dependency::postgres(pool)])
}

/// Health routes whose readiness asks after each of `dependencies`, all at once.
pub fn router_with(dependencies: Vec<Dependency>) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(Arc::new(dependencies))
}

/// 200 while the process runs.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    operation_id = "live",
    responses((status = 200, description = "The process runs", body = Live)),
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
         body = Ready),
        (status = 503, description = "A dependency the service needs does not answer: the \
         problem's `detail` names it, its `checks` member has every dependency's state",
         body = crate::problem::ProblemDoc, content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    ),
)]
pub(crate) async fn ready(State(dependencies): State<Arc<Vec<Dependency>>>) -> Response {
    let answers = join_all(dependencies.iter().map(|dependency| async move {
        match tokio::time::timeout(CHECK_TIMEOUT, (dependency.probe)()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        }
    }))
    .await;
    let mut results = Map::new();
    let mut down = Vec::new();
    for (dependency, answer) in dependencies.iter().zip(answers) {
        let state = match (&answer, dependency.need) {
            (Ok(()), _) => "up",
            (Err(_), Need::Optional) => "degraded",
            (Err(_), Need::Required) => "down",
        };
        if let Err(error) = answer {
            tracing::warn!(
                dependency = dependency.name,
                state,
                error,
                "dependency does not answer"
            );
        }
        if state == "down" {
            down.push(dependency.name);
        }
        results.insert(dependency.name.into(), state.into());
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

// The schemas of the two answers, for the OpenAPI documents.

/// `GET /health/live`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Live {
    #[schema(pattern = "^live$")]
    status: String,
}

/// State of one dependency: `degraded` for an optional one the service works without.
#[derive(ToSchema)]
#[schema(as = DependencyState)]
#[allow(dead_code)]
#[allow(missing_docs)] // a schema for the OpenAPI document: a doc comment would change it
pub enum DependencyStateDoc {
    #[schema(rename = "up")]
    Up,
    #[schema(rename = "down")]
    Down,
    #[schema(rename = "degraded")]
    Degraded,
}

/// What readiness checked.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Checks {
    postgres: DependencyStateDoc,
    /// Optional for both HTTP services: query-api reads fall back to PostgreSQL, command-api's
    /// rate limit lets requests through. Listed by command-api only when rate limits are on.
    #[schema(required = false)]
    redis: DependencyStateDoc,
    /// The blob store of images: optional (only uploads and rendition downloads need it).
    #[schema(required = false)]
    blobs: DependencyStateDoc,
    /// command-api only, when its relay is enabled: optional, since events wait in the outbox
    /// while the broker is away.
    #[schema(required = false)]
    rabbitmq: DependencyStateDoc,
    /// query-api only, when `DATABASE_REPLICA_URL` is set: required, since lists and searches
    /// read from it.
    #[schema(rename = "postgres-replica", required = false)]
    postgres_replica: DependencyStateDoc,
}

/// `GET /health/ready` when every dependency the service needs answers.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Ready {
    #[schema(pattern = "^ready$")]
    status: String,
    checks: Checks,
}
