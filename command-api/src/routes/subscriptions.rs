//! `PUT/GET/DELETE /subscriptions/{name}` (scope `catalog:admin`): webhook subscriptions to the
//! change feed, delivered by `projector webhooks`. A PUT is idempotent by nature (the same
//! subscription twice is the same subscription), so these routes take no `Idempotency-Key`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use catalog_store::webhooks::{self, Subscription, SubscriptionSpec};
use catalog_support::problem::{CommonError, FieldViolation};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::openapi as doc;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/subscriptions", get(list)).route(
        "/subscriptions/{name}",
        get(read).put(subscribe).delete(unsubscribe),
    )
}

/// Every subscription.
#[derive(serde::Serialize, ToSchema)]
pub(crate) struct SubscriptionList {
    items: Vec<Subscription>,
}

/// Every webhook subscription, by name, with how its deliveries go.
#[utoipa::path(
    get,
    path = "/subscriptions",
    tag = "subscriptions",
    operation_id = "subscriptions",
    responses(
        (status = 200, description = "Every subscription", body = SubscriptionList),
        doc::SubscriptionListErrors,
    ),
    security(("bearer" = ["catalog:admin"])),
)]
pub(crate) async fn list(State(app): State<AppState>) -> Result<Response, ApiError> {
    let items = webhooks::list(&app.pool)
        .await
        .map_err(CommonError::database)?;
    Ok(Json(SubscriptionList { items }).into_response())
}

/// Where and what to deliver.
#[derive(Deserialize, ToSchema)]
#[schema(as = Subscribe)]
pub(crate) struct SubscribeBody {
    /// `http` or `https`; its host must not resolve to a loopback, private or link-local
    /// address (unless the service allows it with `WEBHOOK_ALLOW_PRIVATE=true`).
    #[schema(value_type = String, example = "https://erp.example.com/catalog-hook")]
    url: Option<String>,
    /// The key of each delivery's `Catalog-Signature`, 1 to 1024 characters; never shown again.
    #[schema(value_type = String, min_length = 1, max_length = 1024)]
    secret: Option<String>,
    /// Only these event types; all when absent or empty.
    #[schema(value_type = Vec<String>, example = json!(["ProductCreated", "StockAdjusted"]))]
    types: Option<Vec<String>>,
    /// Deliver every event after this position (replay, or resume after a pause); by default a
    /// new subscription starts after the last event stored now, and a changed one carries on.
    #[schema(value_type = i64, minimum = 0)]
    from_position: Option<i64>,
}

/// Subscription names: what a path segment carries without escaping.
fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::from(CommonError::invalid(
            "name",
            "1 to 64 letters, digits, `-`, `_` or `.`",
        )))
    }
}

fn not_found() -> ApiError {
    ApiError::from(CommonError::NotFound("subscription not found"))
}

/// Every rule of a subscription, every broken one named; the URL's host is resolved.
async fn spec(body: SubscribeBody, allow_private: bool) -> Result<SubscriptionSpec, ApiError> {
    let mut errors = Vec::new();
    let mut invalid = |field: &str, message: String| {
        errors.push(FieldViolation {
            field: field.into(),
            message,
        });
    };
    let url = match body.url.as_deref().map(url::Url::parse) {
        None => {
            invalid("url", "is required".into());
            None
        }
        Some(Err(err)) => {
            invalid("url", format!("is not a URL: {err}"));
            None
        }
        Some(Ok(url)) => match webhooks::check_url(&url, allow_private).await {
            Ok(()) => Some(url),
            Err(refused) => {
                invalid("url", refused.to_string());
                None
            }
        },
    };
    let secret = body.secret.unwrap_or_default();
    if secret.is_empty() || secret.chars().count() > 1024 {
        invalid("secret", "is required, 1 to 1024 characters".into());
    }
    let mut types: Vec<String> = Vec::new();
    for name in body.types.unwrap_or_default() {
        if !catalog_domain::is_event_type(&name) {
            invalid("types", format!("`{name}` is not an event type"));
        } else if !types.contains(&name) {
            types.push(name);
        }
    }
    if body.from_position.is_some_and(|p| p < 0) {
        invalid("from_position", "must be a position, 0 or more".into());
    }
    match url {
        Some(url) if errors.is_empty() => Ok(SubscriptionSpec {
            url,
            secret,
            types,
            from_position: body.from_position,
        }),
        _ => Err(ApiError::from(CommonError::Validation(errors))),
    }
}

/// Create or change a webhook subscription.
#[utoipa::path(
    put,
    path = "/subscriptions/{name}",
    tag = "subscriptions",
    operation_id = "subscribe",
    params(("name" = String, Path, description = "The subscription's name", pattern = "^[A-Za-z0-9._-]{1,64}$")),
    request_body = SubscribeBody,
    responses(
        (status = 201, description = "Created; delivery starts after the feed's current end, or \
         after `from_position`", body = Subscription),
        (status = 200, description = "Changed; active again if it was paused", body = Subscription),
        doc::SubscriptionErrors,
    ),
    security(("bearer" = ["catalog:admin"])),
)]
pub(crate) async fn subscribe(
    State(app): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SubscribeBody>,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let spec = spec(body, app.config.webhook_allow_private).await?;
    let (subscription, created) = webhooks::put(&app.pool, &name, &spec)
        .await
        .map_err(CommonError::database)?;
    tracing::info!(subscription = %name, url = %spec.url, created, "webhook subscription saved");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(subscription)).into_response())
}

/// A webhook subscription and how its deliveries go (never its secret).
#[utoipa::path(
    get,
    path = "/subscriptions/{name}",
    tag = "subscriptions",
    operation_id = "subscription",
    params(("name" = String, Path, description = "The subscription's name")),
    responses(
        (status = 200, description = "The subscription", body = Subscription),
        doc::SubscriptionReadErrors,
    ),
    security(("bearer" = ["catalog:admin"])),
)]
pub(crate) async fn read(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let subscription = webhooks::get(&app.pool, &name)
        .await
        .map_err(CommonError::database)?
        .ok_or_else(not_found)?;
    Ok(Json(subscription).into_response())
}

/// Remove a webhook subscription: nothing more is delivered to it.
#[utoipa::path(
    delete,
    path = "/subscriptions/{name}",
    tag = "subscriptions",
    operation_id = "unsubscribe",
    params(("name" = String, Path, description = "The subscription's name")),
    responses(
        (status = 204, description = "Removed"),
        doc::SubscriptionReadErrors,
    ),
    security(("bearer" = ["catalog:admin"])),
)]
pub(crate) async fn unsubscribe(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if webhooks::delete(&app.pool, &name)
        .await
        .map_err(CommonError::database)?
    {
        tracing::info!(subscription = %name, "webhook subscription removed");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found())
    }
}
