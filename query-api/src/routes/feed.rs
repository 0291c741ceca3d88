//! The change feed (scope `catalog:audit`): every stored event in position order, as pages
//! (`GET /events`) or live (`GET /events/stream`, Server-Sent Events).

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use catalog_store::feed::{self, FeedError, FeedEvent, FeedQuery, PAGE_MAX};
use catalog_support::problem::{CommonError, FieldViolation};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::openapi::{self as doc, FeedParams, StreamParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(events))
        .route("/events/stream", get(stream))
}

/// One page of the feed.
#[derive(Serialize, ToSchema)]
pub(crate) struct FeedPage {
    items: Vec<FeedEvent>,
    /// The `after` of the next page: the last item's position, or the request's `after` when
    /// the page is empty. Paging on with it never skips an event.
    next_after: i64,
}

const PAGE_DEFAULT: i64 = 100;

/// The feed's parameters, every bad one named in one 422.
fn parse(raw: Option<&str>, limit_allowed: bool) -> Result<FeedQuery, ApiError> {
    let mut query = FeedQuery {
        limit: PAGE_DEFAULT,
        ..FeedQuery::default()
    };
    let mut errors = Vec::new();
    let mut invalid = |field: &str, message: String| {
        errors.push(FieldViolation {
            field: field.into(),
            message,
        });
    };
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "after" => match value.parse::<i64>() {
                Ok(v) if v >= 0 => query.after = v,
                _ => invalid("after", "must be a position, 0 or more".into()),
            },
            "limit" if limit_allowed => match value.parse::<i64>() {
                Ok(v) if (1..=PAGE_MAX).contains(&v) => query.limit = v,
                _ => invalid("limit", format!("must be an integer from 1 to {PAGE_MAX}")),
            },
            "types" => {
                // `types=` (or a stray comma) names no type: no filter from it.
                for name in value.split(',').filter(|name| !name.is_empty()) {
                    if catalog_domain::is_event_type(name) {
                        if !query.types.iter().any(|t| t == name) {
                            query.types.push(name.to_owned());
                        }
                    } else {
                        invalid("types", format!("`{name}` is not an event type"));
                    }
                }
            }
            "product_id" => match uuid::Uuid::parse_str(&value) {
                Ok(id) => query.product_id = Some(id.hyphenated().to_string()),
                Err(_) => invalid("product_id", "must be a product id (a UUID)".into()),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::from(CommonError::Validation(errors)))
    }
}

impl From<FeedError> for ApiError {
    fn from(err: FeedError) -> Self {
        match err {
            FeedError::Database(err) => Self::from(CommonError::database(err)),
            FeedError::Blind => {
                tracing::error!(error = %err, "change feed unavailable");
                Self::from(CommonError::Unavailable("the change feed"))
            }
            FeedError::Stored(_) => Self::from(anyhow::Error::new(err)),
        }
    }
}

/// The feed's events after a position, oldest first (scope `catalog:audit`).
#[utoipa::path(
    get,
    path = "/events",
    tag = "feed",
    operation_id = "feed",
    params(FeedParams),
    responses(
        (status = 200, description = "A page of the feed. A page never ends past an event that a \
         transaction still running could precede, so paging on with `next_after` never skips \
         one", body = FeedPage),
        doc::FeedErrors,
    ),
    security(("bearer" = ["catalog:audit"])),
)]
pub(crate) async fn events(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = parse(raw.as_deref(), true)?;
    let page = feed::page(&app.pool, &query).await?;
    let next_after = page.next_after(query.after);
    Ok(Json(FeedPage {
        items: page.events,
        next_after,
    })
    .into_response())
}

/// The feed live, as Server-Sent Events (scope `catalog:audit`).
#[utoipa::path(
    get,
    path = "/events/stream",
    tag = "feed",
    operation_id = "feedStream",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "The last event received, when \
         reconnecting: the stream resumes after it (in place of `after`)", minimum = 0),
    ),
    responses(
        (status = 200, description = "Every event after `after` (or `Last-Event-ID`), then each \
         as it is stored: `id: <position>`, `event: <type>`, `data: <FeedEvent>`. A comment \
         line comes at least every 15 s. A client too slow to keep up, or a server shutting \
         down, ends the stream with a comment naming the `Last-Event-ID` to resume with",
         content_type = "text/event-stream", body = String),
        doc::StreamErrors,
    ),
    security(("bearer" = ["catalog:audit"])),
)]
pub(crate) async fn stream(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut query = parse(raw.as_deref(), false)?;
    if let Some(value) = headers.get("last-event-id") {
        query.after = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|v| *v >= 0)
            .ok_or_else(|| {
                ApiError::from(FieldViolation {
                    field: "Last-Event-ID".into(),
                    message: "must be a position, 0 or more".into(),
                })
            })?;
    }
    // The slot is the token's: whoever holds it holds the stream.
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let slot = app
        .streams
        .open(token)
        .map_err(|full| ApiError::TooManyStreams { limit: full.0 })?;
    let events = app.streams.stream(app.pool.clone(), query, slot);
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Sse::new(events),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_parameter_is_named() {
        let Err(ApiError::Common(CommonError::Validation(errors))) = parse(
            Some("after=-1&limit=0&types=StockAdjusted,Nope&product_id=x"),
            true,
        ) else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["after", "limit", "types", "product_id"]);
    }

    #[test]
    fn every_event_type_is_a_filter() {
        let all: Vec<&str> = catalog_domain::event_type_names().collect();
        let query = parse(Some(&format!("types={}", all.join(","))), true).unwrap();
        assert_eq!(query.types.len(), all.len());
        assert_eq!(query.limit, PAGE_DEFAULT);
    }

    #[test]
    fn a_stream_takes_no_limit() {
        let query = parse(Some("limit=5000&after=7"), false).unwrap();
        assert_eq!((query.after, query.limit), (7, PAGE_DEFAULT));
    }
}
