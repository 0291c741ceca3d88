//! Bulk imports over HTTP: `POST /imports` stores the NDJSON file in the blob store as it
//! arrives (never the whole body in memory) and records the job, which the import worker runs
//! in the background ([`crate::imports`]); `GET /imports/{id}` and `GET /imports` show the
//! jobs' progress.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use catalog_store::blobs::{self, BlobError};
use catalog_store::imports::{ImportJob, Imports, LineError, NewImport};
use catalog_support::problem::CommonError;
use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::RequestContext;
use crate::imports::count_lines;
use crate::openapi as doc;
use crate::state::AppState;

/// The media type an import file is sent as.
pub const NDJSON: &str = "application/x-ndjson";
/// Jobs `GET /imports` lists, newest first.
const RECENT: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/imports", post(upload).get(recent))
        .route("/imports/{import_id}", get(status))
}

/// The answer to an upload: the job's id, also in `Location`.
#[derive(Serialize, ToSchema)]
#[schema(as = ImportStarted)]
pub(crate) struct Started {
    import_id: Uuid,
}

/// A job with its first errors.
#[derive(Serialize)]
struct Status {
    #[serde(flatten)]
    job: ImportJob,
    errors: Vec<LineError>,
}

/// `GET /imports`.
#[derive(Serialize)]
struct Recent {
    imports: Vec<ImportJob>,
}

/// An import job (the document's view of [`ImportJob`]).
#[derive(ToSchema)]
#[schema(as = ImportJob)]
#[allow(dead_code)] // a schema only: handlers answer with the store's `ImportJob`
pub(crate) struct JobDoc {
    import_id: Uuid,
    /// `running`, `done` or `failed` (stopped as a whole: see `failure`).
    #[schema(pattern = "^(running|done|failed)$")]
    status: String,
    dry_run: bool,
    /// Who uploaded the file.
    actor: String,
    /// Lines in the file.
    lines: i64,
    /// Lines taken so far.
    processed: i64,
    created: i64,
    updated: i64,
    /// Lines that changed nothing, blank ones included.
    unchanged: i64,
    failed: i64,
    /// Why a failed job stopped.
    failure: Option<String>,
    bytes: i64,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A line that failed.
#[derive(ToSchema)]
#[schema(as = ImportLineError)]
#[allow(dead_code)] // a schema only: handlers answer with the store's `LineError`
pub(crate) struct LineErrorDoc {
    /// 1-based.
    line: i64,
    /// The line's master SKU, when it could be read.
    sku: Option<String>,
    /// The problem type's last part: `validation`, `duplicate-sku`, `sku-taken`, ….
    #[schema(rename = "type")]
    kind: String,
    detail: String,
}

/// An import job with its first 1000 errors, by line.
#[derive(ToSchema)]
#[schema(as = ImportStatus)]
#[allow(dead_code)] // a schema only
pub(crate) struct StatusDoc {
    #[schema(inline)]
    #[serde(flatten)]
    job: JobDoc,
    errors: Vec<LineErrorDoc>,
}

/// The latest jobs, newest first.
#[derive(ToSchema)]
#[schema(as = ImportList)]
#[allow(dead_code)] // a schema only
pub(crate) struct RecentDoc {
    imports: Vec<JobDoc>,
}

/// Whether the query asks for a dry run: `dry_run=true` or `dry_run=false`, nothing else.
fn dry_run(query: Option<&str>) -> Result<bool, ApiError> {
    let mut dry = false;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if name == "dry_run" {
            dry = match value.as_ref() {
                "true" => true,
                "false" => false,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "dry_run must be true or false, not {other:?}"
                    )))
                }
            };
        }
    }
    Ok(dry)
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(NDJSON))
}

/// Upload a file of products, one JSON object per line, to import in the background.
#[utoipa::path(
    post,
    path = "/imports",
    tag = "imports",
    operation_id = "startImport",
    params(("dry_run" = Option<bool>, Query, description = "Check and count every line, write nothing")),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One product per line in `POST /products`' shape, plus optional \
        `variants: [{sku, attributes?, prices?, stock?}]`; matched by the master `sku`"),
    responses(
        (status = 202, description = "Stored; the import runs in the background", body = Started,
         headers(("Location" = String, description = "`/imports/{import_id}`: the job"))),
        doc::ImportErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn upload(
    State(app): State<AppState>,
    ctx: RequestContext,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !is_ndjson(&headers) {
        return Err(ApiError::UnsupportedMediaType(NDJSON));
    }
    let dry_run = dry_run(query.as_deref())?;
    let limit = app.config.import_max_bytes;
    let too_large = || ApiError::PayloadTooLarge {
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let import_id = Uuid::now_v7();
    let key = blobs::import_key(&import_id.to_string());
    let unavailable = |err: BlobError| {
        tracing::error!(error = %err, "import upload: blob store");
        ApiError::from(CommonError::Unavailable("the blob store"))
    };
    let mut file = app.blobs.writer(&key).await.map_err(unavailable)?;
    let (mut bytes, mut newlines, mut last) = (0u64, 0u64, b'\n');
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                let _ = file.abort().await;
                return Err(ApiError::BadRequest(format!(
                    "the body could not be read: {err}"
                )));
            }
        };
        bytes += chunk.len() as u64;
        if bytes > limit {
            let _ = file.abort().await;
            return Err(too_large());
        }
        newlines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        if let Some(byte) = chunk.last() {
            last = *byte;
        }
        if let Err(err) = file.write(chunk).await {
            return Err(unavailable(err));
        }
    }
    file.finish().await.map_err(unavailable)?;
    let lines = count_lines(newlines, last == b'\n', bytes);
    Imports::new(app.pool.clone())
        .create(NewImport {
            import_id,
            actor: &ctx.actor,
            dry_run,
            blob_key: &key,
            bytes: bytes as i64,
            lines: lines as i64,
        })
        .await
        .map_err(CommonError::database)?;
    app.imports.notify_one();
    tracing::info!(%import_id, bytes, lines, dry_run, "import received");
    let mut response = (StatusCode::ACCEPTED, Json(Started { import_id })).into_response();
    let location = HeaderValue::from_str(&format!("/imports/{import_id}"))
        .expect("a UUID path is a valid header");
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// An import job: its counts and its first 1000 errors.
#[utoipa::path(
    get,
    path = "/imports/{import_id}",
    tag = "imports",
    operation_id = "importStatus",
    params(("import_id" = String, Path, description = "The job's id", format = Uuid)),
    responses(
        (status = 200, description = "The job", body = StatusDoc),
        doc::ImportReadErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn status(
    State(app): State<AppState>,
    Path(import_id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::from(CommonError::NotFound("import not found"));
    let import_id = Uuid::parse_str(&import_id).map_err(|_| not_found())?;
    let jobs = Imports::new(app.pool.clone());
    let job = jobs
        .get(import_id)
        .await
        .map_err(CommonError::database)?
        .ok_or_else(not_found)?;
    let errors = jobs
        .errors(import_id)
        .await
        .map_err(CommonError::database)?;
    Ok(Json(Status { job, errors }).into_response())
}

/// The latest import jobs, newest first.
#[utoipa::path(
    get,
    path = "/imports",
    tag = "imports",
    operation_id = "imports",
    responses(
        (status = 200, description = "The 50 latest jobs, newest first", body = RecentDoc),
        doc::ImportListErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn recent(State(app): State<AppState>) -> Result<Response, ApiError> {
    let imports = Imports::new(app.pool.clone())
        .recent(RECENT)
        .await
        .map_err(CommonError::database)?;
    Ok(Json(Recent { imports }).into_response())
}
