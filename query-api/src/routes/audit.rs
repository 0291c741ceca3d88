//! History and past versions, straight from the event store (scope `catalog:audit`).

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use catalog_domain::{FieldChange, Product, ProductEvent, ProductView};
use catalog_read_model::postgres::{fold, Folded};
use catalog_store::log::{self, AuditedEvent};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::locale;
use crate::openapi::{
    self as doc, AcceptLanguage, CurrencyParams, HistoryParams, LocaleParams, ProductPath,
    SelectionParams, VersionPath,
};
use crate::state::AppState;
use catalog_support::http::etag;
use catalog_support::problem::CommonError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products/{id}/history", get(history))
        .route("/products/{id}/versions/{n}", get(version_at))
}

/// One stored event of a product, with who made it and why.
#[derive(Serialize, ToSchema)]
pub(crate) struct HistoryEntry {
    /// The event's number in the product's history, from 1: the product's version after it.
    #[schema(minimum = 1)]
    sequence: i64,
    /// The event type, e.g. `ProductCreated`, `StockAdjusted`.
    #[serde(rename = "type")]
    #[schema(example = "StockAdjusted")]
    event_type: String,
    /// The event's data, as stored.
    #[schema(value_type = Object)]
    data: serde_json::Value,
    recorded_at: DateTime<Utc>,
    /// Who made the change: the token's subject.
    actor: Option<String>,
    correlation_id: Option<String>,
    causation_id: Option<String>,
    event_id: uuid::Uuid,
    /// The version of the event type's shape.
    #[schema(example = "1")]
    event_version: String,
    /// SHA-256 of this event chained to the previous one's, hex: what an auditor compares.
    #[serde(serialize_with = "catalog_store::feed::hex_bytes")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    hash: Vec<u8>,
    /// Each field the event changed, with its value before and after (`null` where unset):
    /// worked out by the domain's own `apply`, the fold every reader shares.
    changes: Vec<FieldChange>,
}

impl HistoryEntry {
    fn new(event: AuditedEvent, changes: Vec<FieldChange>) -> Self {
        // Stored payloads are tagged with their type ({"StockAdjusted": {...}}); the entry
        // carries the type beside the data, so the data is the inner object.
        let data = match event.payload.get(&event.event_type) {
            Some(inner) => inner.clone(),
            None => event.payload,
        };
        let metadata = event.metadata.0;
        Self {
            sequence: event.sequence,
            data,
            recorded_at: event.recorded_at,
            actor: metadata.get("actor").cloned(),
            correlation_id: metadata.get("correlation_id").cloned(),
            causation_id: metadata.get("causation_id").cloned(),
            event_type: event.event_type,
            event_id: event.event_id,
            event_version: event.event_version,
            hash: event.hash,
            changes,
        }
    }
}

/// Product `id` folded up to event `up_to` with the read models' own fold (the events it has,
/// if fewer); `None` if it has none.
async fn replay(app: &AppState, id: &str, up_to: i64) -> Result<Option<Folded>, ApiError> {
    let mut conn = app.pool.acquire().await.map_err(CommonError::database)?;
    let events = log::read_events(&mut conn, id, 0, up_to)
        .await
        .map_err(CommonError::database)?;
    fold(id, None, &events, &app.schema).map_err(|err| ApiError::from(anyhow::Error::new(err)))
}

/// A stored event as the domain reads it, upcast to today's shape; one that does not decode
/// is a fault of the store.
fn decode(app: &AppState, stored: &AuditedEvent) -> Result<ProductEvent, ApiError> {
    stored
        .decode(&app.schema)
        .map_err(|e| ApiError::from(anyhow::anyhow!("stored event unreadable: {e}")))
}

/// One page of a product's history, oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct HistoryPage {
    items: Vec<HistoryEntry>,
    /// The `after` of the next page; `null` on the last one.
    next_after: Option<i64>,
}

/// The most events one page of history holds, and how many it holds unless asked.
pub(crate) const HISTORY_PAGE_MAX: i64 = 1000;
const HISTORY_PAGE_DEFAULT: i64 = 100;

fn paging(raw: Option<&str>) -> Result<(i64, i64), ApiError> {
    let mut after = 0;
    let mut limit = HISTORY_PAGE_DEFAULT;
    let mut errors = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "after" => match value.parse::<i64>() {
                Ok(v) if v >= 0 => after = v,
                _ => errors.push(("after", "must be a sequence number, 0 or more".to_string())),
            },
            "limit" => match value.parse::<i64>() {
                Ok(v) if (1..=HISTORY_PAGE_MAX).contains(&v) => limit = v,
                _ => errors.push((
                    "limit",
                    format!("must be an integer from 1 to {HISTORY_PAGE_MAX}"),
                )),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok((after, limit))
    } else {
        Err(ApiError::from(CommonError::Validation(
            errors
                .into_iter()
                .map(
                    |(field, message)| catalog_support::problem::FieldViolation {
                        field: field.into(),
                        message,
                    },
                )
                .collect(),
        )))
    }
}

fn product_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::from(CommonError::NotFound("product not found")))
}

/// A product's events, oldest first (scope `catalog:audit`).
#[utoipa::path(
    get,
    path = "/products/{id}/history",
    tag = "audit",
    operation_id = "productHistory",
    params(ProductPath, HistoryParams),
    responses(
        (status = 200, description = "A page of the product's events", body = HistoryPage),
        doc::HistoryErrors,
    ),
    security(("bearer" = ["catalog:audit"])),
)]
pub(crate) async fn history(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (after, limit) = paging(query.as_deref())?;
    let id = product_id(&id)?;
    // The changes of the page's first event need the state before it: the events before the
    // page are folded first, read without the audit columns the page shows.
    let mut state = match after {
        0 => Product::default(),
        _ => replay(&app, &id, after)
            .await?
            .map(|folded| folded.state)
            .unwrap_or_default(),
    };
    let mut events = log::read_audited(&app.pool, &id, after, after.saturating_add(limit + 1))
        .await
        .map_err(CommonError::database)?;
    if events.is_empty()
        && !log::exists(&app.pool, &id)
            .await
            .map_err(CommonError::database)?
    {
        return Err(ApiError::from(CommonError::NotFound("product not found")));
    }
    let more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let mut items = Vec::with_capacity(events.len());
    for stored in events {
        let changes = state.apply_and_diff(decode(&app, &stored)?);
        items.push(HistoryEntry::new(stored, changes));
    }
    let next_after = more.then(|| items.last().map(|i| i.sequence)).flatten();
    Ok(Json(HistoryPage { items, next_after }).into_response())
}

/// The product as it stood right after event `n`: its first `n` events replayed through the
/// aggregate's own `apply`, the same code the command side decides with.
#[utoipa::path(
    get,
    path = "/products/{id}/versions/{n}",
    tag = "audit",
    operation_id = "productVersion",
    params(ProductPath, VersionPath, CurrencyParams, SelectionParams, LocaleParams, AcceptLanguage),
    responses(
        (status = 200, description = "The product right after event `n`, rebuilt from the event \
         store", body = ProductView, headers(
            ("ETag" = String, description = "`\"<n>\"`"),
        )),
        doc::VersionErrors,
    ),
    security(("bearer" = ["catalog:audit"])),
)]
pub(crate) async fn version_at(
    State(app): State<AppState>,
    Path((id, n)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (locale, selection) =
        crate::prices::wanted(query.as_deref(), &headers, &app.config.default_locale)?;
    let id = product_id(&id)?;
    let Some(n) = n.parse::<i64>().ok().filter(|n| *n >= 1) else {
        return Err(ApiError::from(CommonError::NotFound("no such version")));
    };
    let Some(folded) = replay(&app, &id, n).await? else {
        return Err(ApiError::from(CommonError::NotFound("product not found")));
    };
    if folded.view.version != n as u64 {
        return Err(ApiError::from(CommonError::NotFound("no such version")));
    }
    let mut view = folded.view;
    view.localize(&locale);
    view.select_prices(&selection);
    let mut response = Json(view).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::ETAG, etag(n as u64));
    response
        .headers_mut()
        .insert(locale::VARY.0, locale::VARY.1);
    Ok(response)
}
