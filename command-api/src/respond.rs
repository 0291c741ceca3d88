//! The answers commands give: `{id, version}` with the version as `ETag`, `201` with a
//! `Location` for a creation, `202` with the image's id for an upload. A leaf: routes and the
//! idempotency layer (which rebuilds an answer from a stored event) both use it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use catalog_support::http::etag;
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// `{id, version}`, the answer to every command, with the version as ETag.
#[derive(Serialize, ToSchema)]
pub(crate) struct Accepted {
    /// The product's id.
    #[schema(format = Uuid)]
    id: String,
    /// The product's version after the command (its number of events).
    #[schema(minimum = 1)]
    version: u64,
}

/// The success of a command on an existing product, as the OpenAPI document states it once
/// for every such route: 200 with [`Accepted`], the version also as `ETag`.
#[derive(IntoResponses)]
#[response(
    status = 200,
    description = "Done",
    headers(
        ("ETag" = String, description = "`\"<version>\"`: the product's version after the command"),
        ("Idempotent-Replayed" = bool, description = "`true` on a replay of a stored response"),
    )
)]
#[allow(dead_code)] // a response for the OpenAPI document only: handlers answer with `accepted`
pub(crate) struct Done(Accepted);

pub(crate) fn accepted(status: StatusCode, id: &str, version: u64) -> Response {
    let mut response = (
        status,
        Json(Accepted {
            id: id.to_string(),
            version,
        }),
    )
        .into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    response
}

/// 201 `{id, version}` with the new product's `Location`.
pub(crate) fn created(id: &str, version: u64) -> Response {
    let mut response = accepted(StatusCode::CREATED, id, version);
    let location =
        HeaderValue::from_str(&format!("/products/{id}")).expect("a UUID path is a valid header");
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// An accepted upload: the image is attached as `processing`; the image worker makes its
/// renditions in the background.
#[derive(Serialize, ToSchema)]
#[schema(as = ImageAccepted)]
pub(crate) struct Uploaded {
    /// The product's id.
    #[schema(format = Uuid)]
    id: String,
    /// The product's version after the image was attached.
    #[schema(minimum = 1)]
    version: u64,
    /// The new image's id, as in the product's `images` and `/images/{image_id}/…`.
    #[schema(format = Uuid)]
    image_id: String,
}

/// 202 `{id, version, image_id}`, the answer to an upload, with the version as ETag.
pub(crate) fn uploaded(id: String, version: u64, image_id: String) -> Response {
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Uploaded {
            id,
            version,
            image_id,
        }),
    )
        .into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    response
}

/// A variant added: `{id, version, variant_id}`.
#[derive(Serialize, ToSchema)]
#[schema(as = VariantAccepted)]
pub(crate) struct VariantAdded {
    /// The product's id.
    #[schema(format = Uuid)]
    id: String,
    /// The product's version after the variant was added.
    #[schema(minimum = 1)]
    version: u64,
    /// The new variant's id, as in the product's `variants` and `/variants/{variant_id}`.
    #[schema(format = Uuid)]
    variant_id: String,
}

/// 201 `{id, version, variant_id}`, the answer to a new variant, with the version as ETag and
/// the product, which lists the variant, as `Location`.
pub(crate) fn variant_added(id: String, version: u64, variant_id: String) -> Response {
    let location =
        HeaderValue::from_str(&format!("/products/{id}")).expect("a UUID path is a valid header");
    let mut response = (
        StatusCode::CREATED,
        Json(VariantAdded {
            id,
            version,
            variant_id,
        }),
    )
        .into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// The answer a command gave, rebuilt from the event it stored: for a request whose process
/// died before its answer was kept (see `idempotency`). `added_id` is the id of what the
/// command added (an image, a variant).
pub(crate) fn answer(
    event_type: &str,
    id: &str,
    version: u64,
    added_id: Option<String>,
) -> Response {
    match (event_type, added_id) {
        ("ProductCreated", _) => created(id, version),
        ("ImageAttached", Some(image_id)) => uploaded(id.to_string(), version, image_id),
        ("VariantAdded", Some(variant_id)) => variant_added(id.to_string(), version, variant_id),
        _ => accepted(StatusCode::OK, id, version),
    }
}
