//! The one error type of query-api, and the one place it becomes HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalog_support::problem::{CommonError, FieldViolation, Problem};

/// Every way a read can fail. [`IntoResponse`] turns each into `application/problem+json` with
/// its status and problem type (`urn:catalog:problem:<type>`).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `?min_version=` was not reached in time: 503 `not-caught-up` with `Retry-After: 1`.
    #[error("the read model has not reached version {wanted} yet; retry shortly")]
    NotCaughtUp {
        /// The version asked for.
        wanted: u64,
    },
    /// The token already has as many change-feed streams open as it may: 429.
    #[error("this token already has {limit} change-feed streams open; close one first")]
    TooManyStreams {
        /// Streams allowed per token.
        limit: usize,
    },
    /// Invalid parameters (422), not found (404), unavailable (503), internal (500): mapped in
    /// `catalog_support::problem`.
    #[error(transparent)]
    Common(#[from] CommonError),
}

/// One bad parameter: 422 with it as the only entry of `errors`.
impl From<FieldViolation> for ApiError {
    fn from(violation: FieldViolation) -> Self {
        Self::Common(CommonError::Validation(vec![violation]))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::Common(CommonError::Internal(err))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = match self {
            Self::NotCaughtUp { .. } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-caught-up",
                "Read model behind",
                self.to_string(),
            )
            .retry_after(1),
            Self::TooManyStreams { .. } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-streams",
                "Too many streams",
                self.to_string(),
            )
            .retry_after(5),
            Self::Common(common) => common.into_problem(),
        };
        problem.into_response()
    }
}
