//! The one error type of query-api, and the one place it becomes HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalog_support::problem::{CommonError, Problem};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `?min_version=` was not reached in time.
    #[error("the read model has not reached version {wanted} yet; retry shortly")]
    NotCaughtUp { wanted: u64 },
    /// Invalid parameters, not found, unavailable, internal: mapped in
    /// `catalog_support::problem`.
    #[error(transparent)]
    Common(#[from] CommonError),
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
            Self::Common(common) => common.into_problem(),
        };
        problem.into_response()
    }
}
