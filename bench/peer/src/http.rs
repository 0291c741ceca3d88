//! The HTTP surface: the requests `catalog-bench seed` and `catalog-bench write` send to
//! command-api, each turned into one `execute_with_metadata` on the framework, as the cqrs-es
//! demo's `command_handler` does. The bearer token is accepted and ignored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use backon::{ExponentialBuilder, Retryable};
use cqrs_es::{AggregateError, EventEnvelope, Query};
use postgres_es::PostgresCqrs;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::product::{Attributes, Price, Product, ProductCommand, ProductError};

/// The metadata key of the request id every command's events carry (the demo's
/// `MetadataExtension` puts the time, URI and user agent there; we add the request id to find
/// the command's events again in [`VersionQuery`]).
const REQUEST_ID: &str = "request_id";

#[derive(Clone)]
pub struct AppState {
    pub cqrs: Arc<PostgresCqrs<Product>>,
    pub committed: Arc<Committed>,
    pub pool: PgPool,
}

/// The version to answer, by request id: the sequence of the last event each command committed.
///
/// `CqrsFramework::execute_with_metadata` answers `()`: cqrs-es has no way to return what a
/// command committed. What it does expose is the committed `EventEnvelope`s, sequence included,
/// to the queries registered with the framework, dispatched in the same call right after the
/// commit. So the framework gets one query, [`VersionQuery`], that notes the last sequence
/// under the request id in the events' metadata; the handler takes it out when `execute`
/// returns. That costs one uncontended map insert and removal per command, where the docs' own
/// way of reading an aggregate's state after a command (a `GenericQuery` over a
/// `PostgresViewRepository`) would add a view load and upsert on every command.
#[derive(Default)]
pub struct Committed(Mutex<HashMap<String, usize>>);

impl Committed {
    fn note(&self, request: &str, sequence: usize) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(request.to_string(), sequence);
    }

    fn take(&self, request: &str) -> Option<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(request)
    }
}

/// The framework's one query: see [`Committed`].
pub struct VersionQuery(pub Arc<Committed>);

#[async_trait]
impl Query<Product> for VersionQuery {
    async fn dispatch(&self, _aggregate_id: &str, events: &[EventEnvelope<Product>]) {
        let Some(last) = events.last() else { return };
        if let Some(request) = last.metadata.get(REQUEST_ID) {
            self.0.note(request, last.sequence);
        }
    }
}

/// Removes a command's entry from [`Committed`] even when its request is dropped midway.
struct Pending<'a> {
    committed: &'a Committed,
    request: String,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.committed.take(&self.request);
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health/ready", get(ready))
        .route("/products", post(create))
        .route("/products/{id}/variants", post(add_variant))
        .route("/products/{id}/stock-adjustments", post(adjust_stock))
        .route(
            "/products/{id}/variants/{variant_id}/stock-adjustments",
            post(adjust_variant_stock),
        )
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> StatusCode {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[derive(Deserialize)]
struct NewProduct {
    sku: String,
    name: String,
    #[serde(default)]
    description: String,
    price: Price,
    #[serde(default)]
    stock: i64,
    #[serde(default)]
    category: String,
    #[serde(default)]
    attributes: Attributes,
}

#[derive(Deserialize)]
struct NewVariant {
    sku: String,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    prices: Vec<Price>,
    #[serde(default)]
    stock: i64,
}

#[derive(Deserialize)]
struct Adjustment {
    delta: i64,
    #[serde(default)]
    reason: String,
}

#[derive(Serialize)]
struct Written {
    id: String,
    version: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant_id: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Json(body): Json<NewProduct>,
) -> Result<(StatusCode, Json<Written>), ApiError> {
    let id = Uuid::now_v7().to_string();
    let command = ProductCommand::Create {
        sku: body.sku,
        name: body.name,
        description: body.description,
        price: body.price,
        stock: body.stock,
        category: body.category,
        attributes: body.attributes,
    };
    let version = execute(&state, &id, command).await?;
    let written = Written {
        id,
        version,
        variant_id: None,
    };
    Ok((StatusCode::CREATED, Json(written)))
}

async fn add_variant(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<NewVariant>,
) -> Result<(StatusCode, Json<Written>), ApiError> {
    let variant_id = Uuid::now_v7().to_string();
    let command = ProductCommand::AddVariant {
        variant_id: variant_id.clone(),
        sku: body.sku,
        attributes: body.attributes,
        prices: body.prices,
        stock: body.stock,
    };
    let version = execute(&state, &id, command).await?;
    let written = Written {
        id,
        version,
        variant_id: Some(variant_id),
    };
    Ok((StatusCode::CREATED, Json(written)))
}

async fn adjust_stock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Adjustment>,
) -> Result<Json<Written>, ApiError> {
    let command = ProductCommand::AdjustStock {
        delta: body.delta,
        reason: body.reason,
    };
    let version = execute(&state, &id, command).await?;
    Ok(Json(Written {
        id,
        version,
        variant_id: None,
    }))
}

async fn adjust_variant_stock(
    State(state): State<AppState>,
    Path((id, variant_id)): Path<(String, String)>,
    Json(body): Json<Adjustment>,
) -> Result<Json<Written>, ApiError> {
    let command = ProductCommand::AdjustVariantStock {
        variant_id,
        delta: body.delta,
        reason: body.reason,
    };
    let version = execute(&state, &id, command).await?;
    Ok(Json(Written {
        id,
        version,
        variant_id: None,
    }))
}

/// The backoff between attempts after another command on the same product committed first —
/// the same policy as Catalog's store, so that both answer every command the rules allow.
/// cqrs-es leaves this to the application: `AggregateConflict`'s docs suggest answering 503 or
/// 429 with `Retry-After` and letting the caller try again, which the load generator (which
/// does not retry) would count as errors.
fn contention_retry() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(2))
        .with_max_delay(Duration::from_millis(100))
        .with_max_times(60)
        .with_jitter()
}

/// Executes `command` on product `id` and answers the product's version after it.
async fn execute(state: &AppState, id: &str, command: ProductCommand) -> Result<usize, ApiError> {
    let pending = Pending {
        committed: &state.committed,
        request: Uuid::new_v4().to_string(),
    };
    let metadata = HashMap::from([
        (REQUEST_ID.to_string(), pending.request.clone()),
        ("time".to_string(), chrono::Utc::now().to_rfc3339()),
    ]);
    (|| {
        state
            .cqrs
            .execute_with_metadata(id, command.clone(), metadata.clone())
    })
    .retry(contention_retry())
    .when(|err| matches!(err, AggregateError::AggregateConflict))
    .await?;
    state
        .committed
        .take(&pending.request)
        .ok_or(ApiError::NoVersion)
}

enum ApiError {
    Aggregate(AggregateError<ProductError>),
    /// The command committed but its events never reached [`VersionQuery`]: not expected.
    NoVersion,
}

impl From<AggregateError<ProductError>> for ApiError {
    fn from(err: AggregateError<ProductError>) -> Self {
        Self::Aggregate(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::Aggregate(AggregateError::UserError(err)) => {
                let status = match err {
                    ProductError::NotFound | ProductError::VariantNotFound => StatusCode::NOT_FOUND,
                    ProductError::AlreadyExists | ProductError::DuplicateVariantSku(_) => {
                        StatusCode::CONFLICT
                    }
                    ProductError::NegativeStock(_) | ProductError::Invalid(_) => {
                        StatusCode::UNPROCESSABLE_ENTITY
                    }
                };
                (status, err.to_string())
            }
            Self::Aggregate(AggregateError::AggregateConflict) => {
                let body = json!({"error": "too much contention on this product; try again"});
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    Json(body),
                )
                    .into_response();
            }
            Self::Aggregate(AggregateError::DatabaseConnectionError(err)) => {
                eprintln!("catalog-bench-peer: database unavailable: {err}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database unavailable".into(),
                )
            }
            Self::Aggregate(err) => {
                eprintln!("catalog-bench-peer: {err}");
                (StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
            }
            Self::NoVersion => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "committed, but the version was not seen".into(),
            ),
        };
        (status, Json(json!({"error": message}))).into_response()
    }
}
