//! The one error type of query-api, and the one place it becomes HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalog_support::problem::{FieldViolation, Problem};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is malformed or out of range.
    #[error("the request has invalid parameters")]
    Validation(Vec<FieldViolation>),
    #[error("{0}")]
    NotFound(&'static str),
    /// `?min_version=` was not reached in time.
    #[error("the read model has not reached version {wanted} yet; retry shortly")]
    NotCaughtUp { wanted: u64 },
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldViolation {
            field: field.to_string(),
            message: message.into(),
        }])
    }

    pub fn database(err: sqlx::Error) -> Self {
        if catalog_support::db::is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            Self::Unavailable("the database")
        } else {
            Self::Internal(anyhow::Error::new(err).context("database query failed"))
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let problem = match self {
            Self::Validation(errors) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request parameters",
                detail,
            )
            .with_errors(errors),
            Self::NotFound(_) => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
            }
            Self::NotCaughtUp { .. } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-caught-up",
                "Read model behind",
                detail,
            )
            .retry_after(1),
            Self::Unavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                detail,
            )
            .retry_after(2),
            Self::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}
