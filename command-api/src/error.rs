//! The one error type of command-api, and the one place it becomes HTTP.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use catalog_domain::{FieldError, ProductError, ProductTypeError};
use catalog_store::repository::StoreError;
use catalog_support::problem::{CommonError, FieldViolation, Problem};

/// Every way a command can fail. [`IntoResponse`] turns each into `application/problem+json`
/// with its status and problem type (`urn:catalog:problem:<type>`).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed request (a body that is not JSON or has a value of the wrong type, an
    /// unreadable `If-Match` or `Idempotency-Key`): 400 `bad-request`.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not of the media type the route takes, which the text names: 415
    /// `unsupported-media-type`.
    #[error("the body must be sent as {0}")]
    UnsupportedMediaType(&'static str),
    /// The body is over the route's limit: 413 `payload-too-large`.
    #[error("the body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit the body went over, in bytes.
        limit: usize,
    },
    /// A create or a new variant named a SKU already held by a variant of a product that is
    /// not archived: 409 `sku-taken`.
    #[error("the SKU {0:?} is already used by another product")]
    SkuTaken(String),
    /// The product refused the command in its current state: 409, the type naming the refusal
    /// (`product-archived`, `insufficient-stock`, …).
    #[error(transparent)]
    Refused(ProductError),
    /// `If-Match` named another version than the product's: 412 `precondition-failed`, with
    /// the current version as `current_version` and as the `ETag`.
    #[error("the product is at version {current}, not the version given in If-Match")]
    PreconditionFailed {
        /// The product's version now.
        current: u64,
    },
    /// Other writers kept winning the race for the product until the store stopped retrying:
    /// 409 `contention` with `Retry-After: 1`.
    #[error("the product kept changing under this command; retry it")]
    Contention,
    /// A product type definition would change the type incompatibly (each change listed): 409
    /// `incompatible-type-change`, nothing written.
    #[error("the definition changes the product type incompatibly: {}", changes(.0))]
    IncompatibleTypeChange(Vec<FieldError>),
    /// The `Idempotency-Key` was first used with another method, path or body: 422
    /// `idempotency-key-reused`.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` was still running after a duplicate had
    /// waited for it (15 s): 409 `idempotency-in-progress` with `Retry-After: 1`.
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    /// Something the contract names but this service does not do yet (the text says what):
    /// 501 `not-implemented`. No route answers it at present.
    #[error("{0}")]
    NotImplemented(&'static str),
    /// Invalid values (422), not found (404), unavailable (503), internal (500): mapped in
    /// `catalog_support::problem`.
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
            ProductError::VariantNotFound => CommonError::NotFound("variant not found").into(),
            ProductError::SkuTaken(sku) => Self::SkuTaken(sku),
            ProductError::TypeUnavailable(_) => {
                CommonError::Internal(anyhow::Error::new(err)).into()
            }
            ProductError::WrongType { .. } => Self::BadRequest(err.to_string()),
            other => Self::Refused(other),
        }
    }
}

impl From<ProductTypeError> for ApiError {
    fn from(err: ProductTypeError) -> Self {
        match err {
            ProductTypeError::Invalid(errors) => {
                CommonError::Validation(errors.into_iter().map(violation).collect()).into()
            }
            ProductTypeError::Incompatible(errors) => Self::IncompatibleTypeChange(errors),
        }
    }
}

impl<R> From<StoreError<R>> for ApiError
where
    ApiError: From<R>,
{
    fn from(err: StoreError<R>) -> Self {
        match err {
            StoreError::Refused(err) => err.into(),
            StoreError::PreconditionFailed { current } => Self::PreconditionFailed { current },
            StoreError::Contention => Self::Contention,
            StoreError::Unavailable => CommonError::Unavailable("the event store").into(),
            StoreError::Internal(err) => CommonError::Internal(err).into(),
        }
    }
}

fn changes(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
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
        ProductError::DuplicateVariant { .. } => "duplicate-variant",
        ProductError::TooManyVariants { .. } => "too-many-variants",
        ProductError::MasterVariant => "master-variant",
        ProductError::NotFound
        | ProductError::ImageNotFound
        | ProductError::VariantNotFound
        | ProductError::SkuTaken(_)
        | ProductError::Invalid(_)
        | ProductError::WrongType { .. }
        | ProductError::TypeUnavailable(_) => "conflict",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_problem().into_response()
    }
}

impl ApiError {
    /// The problem the error answers as: what a response carries, and what an import reports
    /// for a line that failed.
    pub fn into_problem(self) -> Problem {
        let detail = self.to_string();
        match self {
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
            Self::IncompatibleTypeChange(errors) => Problem::new(
                StatusCode::CONFLICT,
                "incompatible-type-change",
                "Incompatible product type change",
                detail,
            )
            .with_extension(
                "errors",
                serde_json::to_value(errors.into_iter().map(violation).collect::<Vec<_>>())
                    .expect("field errors serialise"),
            ),
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
        }
    }
}
