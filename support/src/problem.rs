//! RFC 9457 problem details: the one shape every error of every service takes.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every problem response, registered by RFC 9457.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// One rejected field of a request, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldViolation {
    /// The field's path: `price.amount`, `attributes.<key>`, `file`, a query parameter's name.
    pub field: String,
    /// The rule the value breaks, for a human.
    pub message: String,
}

/// A problem response. `kind` becomes a stable `type` URI (`urn:catalog:problem:<kind>`) that
/// clients can match on; `title` is the fixed human summary of that kind and `detail` the
/// explanation of this occurrence.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `urn:catalog:problem:<kind>`, serialized as `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The fixed human summary of the kind.
    pub title: String,
    /// The response's HTTP status code, repeated in the body.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Every rejected field, on validation problems only; left out of the body when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldViolation>>,
    /// Extension members of this problem type (RFC 9457 §3.2), e.g. `checks` on readiness.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
    /// Sent with the response, not in the body: `Retry-After`, `WWW-Authenticate`, `ETag`.
    #[serde(skip)]
    pub headers: HeaderMap,
}

impl Problem {
    /// A problem of `kind` (the last segment of its `type` URI), answered with `status`.
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:catalog:problem:{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: None,
            extensions: serde_json::Map::new(),
            headers: HeaderMap::new(),
        }
    }

    /// A 500 that says nothing of its cause: the cause goes to the log, never to the client.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "an unexpected error occurred; it has been logged",
        )
    }

    /// Lists the rejected fields in `errors`.
    pub fn with_errors(mut self, errors: Vec<FieldViolation>) -> Self {
        self.errors = Some(errors);
        self
    }

    /// Adds the extension member `name` to the body, replacing one of the same name.
    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(name.to_string(), value);
        self
    }

    /// Sends the header `name` with the response, replacing one set before.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Asks the client to come back after `seconds`, for 429 and 503.
    pub fn retry_after(self, seconds: u32) -> Self {
        self.with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// The status to answer with; 500 should `status` not be a valid code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        headers.extend(self.headers);
        response
    }
}

/// The failures every service meets, each mapped to its problem here, once. A service's own
/// error type wraps these beside the failures only it knows.
#[derive(Debug, thiserror::Error)]
pub enum CommonError {
    /// Well-formed values that break a rule: a body's fields or a query's parameters.
    #[error("the request has invalid values")]
    Validation(Vec<FieldViolation>),
    /// What the request names does not exist (404); the text is the whole `detail`, e.g.
    /// `product not found`.
    #[error("{0}")]
    NotFound(&'static str),
    /// A dependency cannot be reached; the client should retry later.
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    /// A bug or an unexpected failure. Logged where it becomes a response, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl CommonError {
    /// A validation error about one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldViolation {
            field: field.to_string(),
            message: message.into(),
        }])
    }

    /// A failed query: 503 when the database cannot be reached (logged as a warning), else
    /// an internal error.
    pub fn database(err: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            Self::Unavailable("the database")
        } else {
            Self::Internal(anyhow::Error::new(err).context("database query failed"))
        }
    }

    /// The problem this error answers: 422 with `errors`, 404, 503 with `Retry-After`, or an
    /// opaque 500 whose cause is logged here.
    pub fn into_problem(self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::Validation(errors) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request values",
                detail,
            )
            .with_errors(errors),
            Self::NotFound(_) => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
            }
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
        }
    }
}

impl IntoResponse for CommonError {
    fn into_response(self) -> Response {
        self.into_problem().into_response()
    }
}

/// One rejected field of a request, named as the client sent it (`price.amount`,
/// `attributes.<key>`, `file`, a query parameter's name).
#[derive(ToSchema)]
#[schema(as = FieldViolation)]
#[allow(dead_code)] // a schema only: the response is `problem::FieldViolation`
pub struct FieldViolationDoc {
    field: String,
    message: String,
}

/// RFC 9457 problem details: the one shape of every error of every service.
#[derive(ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)] // a schema only: the response is `problem::Problem`
pub struct ProblemDoc {
    /// Stable URI of the kind of problem, `urn:catalog:problem:<kind>`: what clients match on.
    #[schema(
        rename = "type",
        pattern = "^urn:catalog:problem:[a-z-]+$",
        example = "urn:catalog:problem:not-found"
    )]
    kind: String,
    /// Fixed human summary of the kind.
    title: String,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// What went wrong in this occurrence.
    detail: String,
    /// Every rejected field, on validation errors (422) only.
    #[schema(required = false)]
    errors: Vec<FieldViolationDoc>,
}
