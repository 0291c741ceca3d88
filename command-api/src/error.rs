//! The one error type of command-api, and the one place it becomes HTTP.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use catalog_domain::{FieldError, ProductError};
use catalog_store::event_store::StoreError;
use catalog_support::problem::{CommonError, FieldViolation, Problem};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a value has the wrong type.
    #[error("{0}")]
    BadRequest(String),
    #[error("the body must be sent as {0}")]
    UnsupportedMediaType(&'static str),
    #[error("the body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the SKU {0:?} is already used by another product")]
    SkuTaken(String),
    /// The product refused the command in its current state.
    #[error(transparent)]
    Refused(ProductError),
    #[error("the product is at version {current}, not the version given in If-Match")]
    PreconditionFailed { current: u64 },
    #[error("the product kept changing under this command; retry it")]
    Contention,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    #[error("{0}")]
    NotImplemented(&'static str),
    /// Invalid values, not found, unavailable, internal: mapped in `catalog_support::problem`.
    #[error(transparent)]
    Common(#[from] CommonError),
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::Common(CommonError::Internal(err))
    }
}

impl From<ProductError> for ApiError {
    fn from(err: ProductError) -> Self {
        match err {
            ProductError::Invalid(errors) => {
                CommonError::Validation(errors.into_iter().map(violation).collect()).into()
            }
            ProductError::NotFound => CommonError::NotFound("product not found").into(),
            ProductError::ImageNotFound => CommonError::NotFound("image not found").into(),
            other => Self::Refused(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Refused(err) => err.into(),
            StoreError::PreconditionFailed { current } => Self::PreconditionFailed { current },
            StoreError::Contention => Self::Contention,
            StoreError::Unavailable => CommonError::Unavailable("the event store").into(),
            StoreError::Internal(err) => CommonError::Internal(err).into(),
        }
    }
}

fn violation(error: FieldError) -> FieldViolation {
    FieldViolation {
        field: error.field,
        message: error.message,
    }
}

/// The stable `type` suffix of a refusal, so clients can tell refusals apart without parsing text.
fn refusal_kind(err: &ProductError) -> &'static str {
    match err {
        ProductError::Archived => "product-archived",
        ProductError::AlreadyPublished => "already-published",
        ProductError::NotPublished => "not-published",
        ProductError::InsufficientStock { .. } => "insufficient-stock",
        ProductError::TooManyImages { .. } => "too-many-images",
        ProductError::ImageAlreadyAttached(_) => "image-already-attached",
        ProductError::ImageNotProcessing { .. } => "image-not-processing",
        ProductError::AlreadyExists => "product-exists",
        ProductError::NotFound | ProductError::ImageNotFound | ProductError::Invalid(_) => {
            "conflict"
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let problem = match self {
            Self::BadRequest(_) => Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Malformed request",
                detail,
            ),
            Self::UnsupportedMediaType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                detail,
            ),
            Self::PayloadTooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                detail,
            ),
            Self::SkuTaken(_) => Problem::new(
                StatusCode::CONFLICT,
                "sku-taken",
                "SKU already in use",
                detail,
            ),
            Self::Refused(err) => Problem::new(
                StatusCode::CONFLICT,
                refusal_kind(&err),
                "Command refused in the product's current state",
                detail,
            ),
            // The current version, in the body and as the ETag, lets a client show what it
            // missed and retry against it without another read.
            Self::PreconditionFailed { current } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Version mismatch",
                detail,
            )
            .with_extension("current_version", current.into())
            .with_header(header::ETAG, catalog_support::http::etag(current)),
            Self::Contention => Problem::new(
                StatusCode::CONFLICT,
                "contention",
                "Concurrent modification",
                detail,
            )
            .retry_after(1),
            Self::IdempotencyKeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                detail,
            ),
            Self::IdempotencyInProgress => Problem::new(
                StatusCode::CONFLICT,
                "idempotency-in-progress",
                "Request in progress",
                detail,
            )
            .retry_after(1),
            Self::NotImplemented(_) => Problem::new(
                StatusCode::NOT_IMPLEMENTED,
                "not-implemented",
                "Not implemented",
                detail,
            ),
            Self::Common(common) => common.into_problem(),
        };
        problem.into_response()
    }
}
