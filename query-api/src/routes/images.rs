//! `GET /images/{image_id}/{rendition}.{webp,jpg}`: rendition bytes streamed from the blob store.
//! A rendition never changes once written (its key is its image and size), so it is served as
//! immutable: caches keep it for a year and revalidate never.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use catalog_store::blobs::{self, BlobError};

use crate::error::ApiError;
use crate::openapi::{self as doc, RenditionPath};
use crate::state::AppState;
use catalog_support::problem::CommonError;

pub fn router() -> Router<AppState> {
    Router::new().route("/images/{image_id}/{file}", get(rendition))
}

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");

/// A rendition of an image: `thumb` (160 px on the longest side), `small` (400), `medium` (800)
/// or `large` (1600), never upscaled, as WebP or JPEG; EXIF orientation applied, metadata
/// stripped. Immutable: cached for a year.
#[utoipa::path(
    get,
    path = "/images/{image_id}/{file}",
    tag = "images",
    operation_id = "getRendition",
    params(RenditionPath, ("If-None-Match" = Option<String>, Header, nullable = false,
        description = "The rendition's ETag: 304 without a body if it matches")),
    responses(
        (status = 200, description = "The image bytes", content(
            (doc::ImageBytes = "image/webp"),
            (doc::ImageBytes = "image/jpeg"),
        ), headers(
            ("ETag" = String, description = "`\"<image_id>-<file>\"`"),
            ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"),
        )),
        (status = 304, description = "`If-None-Match` names this rendition", headers(
            ("ETag" = String, description = "`\"<image_id>-<file>\"`"),
            ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"),
        )),
        doc::RenditionErrors,
    ),
)]
pub(crate) async fn rendition(
    State(app): State<AppState>,
    Path((image_id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::from(CommonError::NotFound("image rendition not found"));
    let image_id = uuid::Uuid::parse_str(&image_id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| not_found())?;
    let (name, extension) = file.rsplit_once('.').ok_or_else(not_found)?;
    let content_type = match extension {
        "webp" => "image/webp",
        "jpg" => "image/jpeg",
        _ => return Err(not_found()),
    };
    if !catalog_renditions::RENDITIONS
        .iter()
        .any(|(n, _)| *n == name)
    {
        return Err(not_found());
    }
    let etag = HeaderValue::from_str(&format!("\"{image_id}-{name}.{extension}\""))
        .expect("ids and names are valid header text");
    let mut response = if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let key = blobs::rendition_key(&image_id, name, extension);
        let stream = app.blobs.stream(&key).await.map_err(|err| match err {
            BlobError::NotFound(_) => not_found(),
            BlobError::Unavailable(err) => {
                tracing::warn!(error = %err, "blob store unavailable");
                ApiError::from(CommonError::Unavailable("the blob store"))
            }
        })?;
        let mut response = Body::from_stream(stream).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, IMMUTABLE);
    Ok(response)
}
