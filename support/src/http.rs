//! The layers every HTTP service wraps its routes in, outermost last: request ids, one log line
//! per request in a span carrying the request id, a timeout, a panic boundary, security headers
//! and, when configured, CORS.

use std::time::Duration;

use std::time::Instant;

use axum::extract::{MatchedPath, Request as AxumRequest};
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::problem::Problem;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

pub struct HttpOptions {
    /// A request still running after this long is answered 503.
    pub timeout: Duration,
    /// Origins browsers may call from; empty turns CORS off.
    pub cors_allowed_origins: Vec<String>,
}

/// Headers a browser honours that cost an API nothing: no MIME sniffing, no framing, no
/// referrer leaks. The content security policy forbids everything to API responses; the docs
/// page is served with its own policy (see `CSP_DOCS`).
const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("strict-transport-security", "max-age=63072000"),
];
const CSP_API: &str = "default-src 'none'; frame-ancestors 'none'";

pub fn layers(router: Router, options: HttpOptions) -> Router {
    let mut router = router
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "an unexpected error occurred; it has been logged",
            )
            .into_response()
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            options.timeout,
        ))
        // Outside the timeout and the panic boundary, so that their answers are counted too.
        .layer(middleware::from_fn(record_metrics))
        // Only where a handler set none: the docs page brings its own.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP_API),
        ));
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    if !options.cors_allowed_origins.is_empty() {
        let origins: Vec<HeaderValue> = options
            .cors_allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::IF_MATCH,
                    header::IF_NONE_MATCH,
                    HeaderName::from_static("idempotency-key"),
                    REQUEST_ID,
                    CORRELATION_ID,
                    HeaderName::from_static("x-causation-id"),
                ])
                .expose_headers([
                    header::ETAG,
                    header::LOCATION,
                    header::RETRY_AFTER,
                    HeaderName::from_static("idempotent-replayed"),
                    REQUEST_ID,
                ])
                .max_age(Duration::from_secs(600)),
        );
    }
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    // As the events the request causes will record it (extract.rs): the
                    // client's correlation id, else the request's own id.
                    let correlation_id = request
                        .headers()
                        .get(CORRELATION_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(request_id);
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id,
                        correlation_id,
                        actor = tracing::field::Empty,
                    )
                })
                // One line per request at info, with status and latency, in the request's span.
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::map_request(drop_unusable_ids))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
}

/// The ids a client may send to tie its request to others. One is used only if it is short and
/// printable, so that it cannot bloat or forge log lines and event metadata; an unusable one is
/// dropped here, before anything reads it, and the request gets an id of its own instead.
pub const TRACE_HEADERS: [HeaderName; 3] = [
    REQUEST_ID,
    CORRELATION_ID,
    HeaderName::from_static("x-causation-id"),
];

pub fn usable_id(value: &HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
}

async fn drop_unusable_ids(mut request: AxumRequest) -> AxumRequest {
    for name in TRACE_HEADERS {
        let usable = request
            .headers()
            .get(&name)
            .and_then(usable_id)
            .map(str::to_owned);
        match usable {
            Some(id) => {
                let id = HeaderValue::from_str(&id).expect("printable ASCII is a valid header");
                request.headers_mut().insert(name, id);
            }
            None => {
                request.headers_mut().remove(name);
            }
        }
    }
    request
}

/// Counts and times every request by method, route and status. The route is the template
/// (`/products/{id}`), never the raw path: one series per product id would exhaust Prometheus.
/// Requests no route matched share `route="unmatched"`.
async fn record_metrics(request: AxumRequest, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_str().to_owned()),
    ];
    metrics::counter!("catalog_http_requests_total", &labels).increment(1);
    metrics::histogram!("catalog_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The fallback of every router: an unknown route, in problem+json like every other error.
pub async fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "no such route",
    )
}

/// A known route asked with a method it does not take.
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this route does not accept that method",
    )
}
