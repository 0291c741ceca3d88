//! `GET /status`: how far behind the event store each stage of the pipeline runs, in one small
//! JSON document for dashboards and the console's status strip (read in [`crate::pipeline`]).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::error::ApiError;
use crate::openapi as doc;
use crate::pipeline::PipelineStatus;
use crate::state::AppState;

/// `GET /status`, which needs no token.
pub fn router() -> Router<AppState> {
    Router::new().route("/status", get(status))
}

/// The pipeline at a glance: the relay's backlog, how far the read model trails the event
/// store, and the images still being rendered. Served fresh at most once a second.
#[utoipa::path(
    get,
    path = "/status",
    tag = "status",
    operation_id = "getStatus",
    responses(
        (status = 200, description = "The pipeline's state", body = PipelineStatus),
        doc::StatusErrors,
    ),
)]
pub(crate) async fn status(State(app): State<AppState>) -> Result<Response, ApiError> {
    let status = app.status.get(&app.pool, &app.config.namespace).await?;
    let mut response = Json(status).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
