//! Image uploads and removals. An upload is checked by its bytes (format, header dimensions),
//! stored as the image's original in the blob store, then attached to the product; the
//! renditions are made in the background by the image worker.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, post};
use axum::Router;
use bytes::{Bytes, BytesMut};
use catalog_domain::{AttachImage, ImageOriginal, ProductCommand, ProductStatus, MAX_IMAGES};
use catalog_renditions::{probe, sniff, Format, RenderError};
use catalog_store::blobs::{self, BlobError};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::products::{done, product_id, run};
use crate::error::ApiError;
use crate::extract::{IfMatch, RequestContext};
use crate::openapi::{self as doc, CommandHeaders, ImagePath, ProductPath};
use crate::respond::{uploaded, Uploaded};
use crate::state::AppState;
use catalog_support::problem::CommonError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products/{id}/images", post(upload))
        .route("/products/{id}/images/{image_id}", delete(remove))
}

/// `multipart/form-data` with the image in the field `file`: JPEG, PNG, WebP or GIF (first
/// frame), recognised by its bytes, never by its Content-Type or file name; at most 20 MiB and
/// 50 megapixels by default.
#[derive(ToSchema)]
#[allow(dead_code)] // a schema only: the handler streams the multipart body
struct ImageUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Jpeg => "jpg",
        Format::Png => "png",
        Format::Gif => "gif",
        Format::WebP => "webp",
    }
}

/// Reads the `file` field, refusing it as soon as it passes `limit` bytes.
async fn read_file(mut multipart: Multipart, limit: usize) -> Result<Bytes, ApiError> {
    let multipart_error = |err: axum::extract::multipart::MultipartError| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest(format!("malformed multipart body: {}", err.body_text()))
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let mut file = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if file.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            file.extend_from_slice(&chunk);
        }
        return Ok(file.freeze());
    }
    Err(ApiError::from(CommonError::invalid(
        "file",
        "is required (multipart/form-data field `file`)",
    )))
}

/// Upload an image of a product (at most 20 images per product).
#[utoipa::path(
    post,
    path = "/products/{id}/images",
    tag = "images",
    operation_id = "uploadImage",
    params(ProductPath, CommandHeaders),
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Stored and attached; renditions are made in the background",
         body = Uploaded, headers(
            ("ETag" = String, description = "`\"<version>\"`: the product's version after the command"),
            ("Idempotent-Replayed" = bool, description = "`true` on a replay of a stored response"),
         ),
         links(
            ("RemoveImage" = (operation_id = "removeImage", parameters(
                ("id" = "$response.body#/id"), ("image_id" = "$response.body#/image_id")))),
         )),
        doc::BodyCommandErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn upload(
    State(app): State<AppState>,
    Path(id): Path<String>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let id = product_id(&id)?;
    let multipart = multipart.map_err(|rejection| {
        if rejection.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
            || rejection.status() == StatusCode::BAD_REQUEST
        {
            ApiError::UnsupportedMediaType("multipart/form-data with a `file` field")
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })?;
    // Refuse early what the product would refuse anyway, before storing anything.
    let (product, _) = app.store.load(&id).await?;
    match product.status {
        None => return Err(ApiError::from(CommonError::NotFound("product not found"))),
        Some(ProductStatus::Archived) => {
            return Err(ApiError::Refused(catalog_domain::ProductError::Archived))
        }
        Some(_) if product.images.len() >= MAX_IMAGES => {
            return Err(ApiError::Refused(
                catalog_domain::ProductError::TooManyImages { limit: MAX_IMAGES },
            ))
        }
        Some(_) => {}
    }

    let file = read_file(multipart, app.config.upload_max_bytes).await?;
    let format = sniff(&file).ok_or(ApiError::UnsupportedMediaType(
        "a JPEG, PNG, WebP or GIF image (recognised by its bytes)",
    ))?;
    let header = probe(&file).map_err(|err| match err {
        RenderError::TooLarge { .. } => {
            ApiError::from(CommonError::invalid("file", err.to_string()))
        }
        _ => ApiError::UnsupportedMediaType("a readable JPEG, PNG, WebP or GIF image"),
    })?;
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels > app.config.upload_max_pixels {
        return Err(ApiError::from(CommonError::invalid(
            "file",
            format!(
                "{}x{} is {pixels} pixels, over the limit of {}",
                header.width, header.height, app.config.upload_max_pixels
            ),
        )));
    }

    let image_id = Uuid::now_v7().to_string();
    let hash = hex::encode(Sha256::digest(&file));
    let key = blobs::original_key(&image_id, &hash, extension(format));
    let bytes = file.len() as u64;
    // The intent first: if this request dies after the blob is stored, the image worker finds
    // the blob through it and deletes it unless an event attached the image.
    record_intent(&app, &image_id, &id).await?;
    app.blobs.put(&key, file).await.map_err(blob_error)?;

    let command = ProductCommand::AttachImage(AttachImage {
        image_id: image_id.clone(),
        original: ImageOriginal {
            key: key.clone(),
            content_type: catalog_renditions::content_type(format).to_string(),
            width: header.width,
            height: header.height,
            bytes,
        },
    });
    match run(&app, &id, command, if_match, &ctx).await {
        Ok((id, committed)) => {
            settle_intent(&app, &image_id).await;
            Ok(uploaded(id, committed.version, image_id))
        }
        // The connection failed, so whether the image was attached is unknown (a commit whose
        // answer was lost looks like this): the blob stays, and the sweep decides by the intent.
        Err(err @ ApiError::Common(CommonError::Unavailable(_))) => Err(err),
        Err(err) => {
            // Compensation: the image was not attached, so its original must not linger.
            match app.blobs.delete(&key).await {
                Ok(()) => settle_intent(&app, &image_id).await,
                Err(cleanup) => {
                    tracing::warn!(key, error = %cleanup, "could not delete the original of a refused upload; the sweep will");
                }
            }
            Err(err)
        }
    }
}

async fn record_intent(app: &AppState, image_id: &str, product_id: &str) -> Result<(), ApiError> {
    sqlx::query("INSERT INTO upload_intents (image_id, product_id) VALUES ($1, $2)")
        .bind(image_id)
        .bind(product_id)
        .execute(&app.pool)
        .await
        .map_err(CommonError::database)?;
    Ok(())
}

/// The upload has a definite outcome and its blob is where it belongs; a failure here only
/// leaves the sweep a check to make.
async fn settle_intent(app: &AppState, image_id: &str) {
    if let Err(err) = sqlx::query("DELETE FROM upload_intents WHERE image_id = $1")
        .bind(image_id)
        .execute(&app.pool)
        .await
    {
        tracing::warn!(image_id, error = %err, "could not settle an upload intent; the sweep will");
    }
}

fn blob_error(err: BlobError) -> ApiError {
    tracing::warn!(error = %err, "blob store unavailable");
    ApiError::from(CommonError::Unavailable("the blob store"))
}

/// Remove an image from a product; its original and renditions are deleted afterwards.
#[utoipa::path(
    delete,
    path = "/products/{id}/images/{image_id}",
    tag = "images",
    operation_id = "removeImage",
    params(ProductPath, ImagePath, CommandHeaders),
    responses(
        (status = 200, description = "Removed", body = crate::respond::Accepted, headers(
            ("ETag" = String, description = "`\"<version>\"`: the product's version after the command"),
            ("Idempotent-Replayed" = bool, description = "`true` on a replay of a stored response"),
        )),
        doc::CommandErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn remove(
    State(app): State<AppState>,
    Path((id, image_id)): Path<(String, String)>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
) -> Result<Response, ApiError> {
    let command = ProductCommand::RemoveImage { image_id };
    // The blobs are deleted by the image worker on ImageRemoved, after the event is stored.
    done(&app, &id, command, if_match, &ctx).await
}
