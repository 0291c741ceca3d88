//! The layers every HTTP service wraps its routes in, outermost last: request ids, one log line
//! per request in a span carrying the request id, a timeout, a panic boundary, security headers
//! and, when configured, CORS.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request as AxumRequest};
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::problem::Problem;

/// The id of one request: the client's when usable, else a fresh UUID; echoed on the response
/// and carried by the request's span.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The id a client gives a chain of related requests, recorded on the events they cause; the
/// request id stands in when there is none.
pub const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// The settings of [`layers`] a service chooses.
pub struct HttpOptions {
    /// A request still running after this long is answered 503.
    pub timeout: Duration,
    /// Routes allowed longer than `timeout` (method, exact path, limit): uploads of files
    /// too large to arrive within it.
    pub long_requests: Vec<(Method, &'static str, Duration)>,
    /// Origins browsers may call from; empty turns CORS off.
    pub cors_allowed_origins: Vec<String>,
}

/// Headers a browser honours that cost an API nothing: no MIME sniffing, no framing, no
/// referrer leaks. The content security policy forbids everything to API responses; the docs
/// page is served with its own policy (`crate::openapi::CSP_DOCS`).
const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::STRICT_TRANSPORT_SECURITY, "max-age=63072000"),
];
const CSP_API: &str = "default-src 'none'; frame-ancestors 'none'";

/// Wraps `router` in every layer of this module, as one stack. Call it once all routes and the
/// fallbacks are added: a route added afterwards would not be wrapped.
pub fn layers(router: Router, options: HttpOptions) -> Router {
    let cors =
        (!options.cors_allowed_origins.is_empty()).then(|| cors(&options.cors_allowed_origins));
    // One stack, outermost first, applied once: every `Router::layer` call boxes the routes
    // again, and each box is cloned for every request.
    let stack = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            HeaderName::from_static(crate::session::CSRF_HEADER),
        ]))
        .layer(middleware::map_request(drop_unusable_ids))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
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
                    // Only the ids: every field is formatted when the span is made, for every
                    // request, whether or not anything is logged in it (with five fields, a
                    // tenth of a cached read's cost). Method and path are on the line that ends
                    // the request.
                    tracing::info_span!(
                        "request",
                        request_id,
                        correlation_id,
                        actor = tracing::field::Empty,
                    )
                })
                // `observe` writes the line that ends each request.
                .on_response(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .option_layer(cors)
        .layer(middleware::map_response(security_headers))
        // Outside the timeout and the panic boundary, so that their answers are counted too.
        // Inside the security headers, so that the problem made here gets them too.
        .layer(middleware::map_response(timed_out_as_problem))
        .layer(middleware::from_fn(observe))
        .layer(middleware::from_fn_with_state(
            TimeLimits {
                default: options.timeout,
                long: options.long_requests.into(),
            },
            time_limit,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            Problem::internal().into_response()
        }));
    router.layer(stack)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Only where a handler set none: the docs page brings its own.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP_API));
    response
}

/// Each request's time limit, where some routes have their own.
#[derive(Clone)]
struct TimeLimits {
    default: Duration,
    long: std::sync::Arc<[(Method, &'static str, Duration)]>,
}

/// A request past its route's limit is answered 503 with an empty body (made a problem by
/// [`timed_out_as_problem`]), and its handler dropped.
async fn time_limit(
    axum::extract::State(limits): axum::extract::State<TimeLimits>,
    request: AxumRequest,
    next: Next,
) -> Response {
    let limit = limits
        .long
        .iter()
        .find(|(method, path, _)| request.method() == method && request.uri().path() == *path)
        .map_or(limits.default, |(_, _, limit)| *limit);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The time limit answers 503 with an empty body; every error of Catalog is problem+json
/// with a `Retry-After`, so its answer is rewritten into one. A handler's own 503 always carries
/// a content type (its problem), which is how the two are told apart.
async fn timed_out_as_problem(response: Response) -> Response {
    if response.status() != StatusCode::SERVICE_UNAVAILABLE
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    tracing::warn!("request timed out");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Service unavailable",
        "the request did not finish within the time limit; retry it",
    )
    .retry_after(2)
    .into_response()
}

fn cors(allowed_origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    // Credentials (the session cookie) go only to the origins listed, never to any: the
    // console on query-api's origin calls command-api with the cookie of its sign-in.
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
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
            HeaderName::from_static(crate::session::CSRF_HEADER),
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
        .max_age(Duration::from_secs(600))
}

/// The ids a client may send to tie its request to others. One is used only if it is short and
/// printable, so that it cannot bloat or forge log lines and event metadata; an unusable one is
/// dropped here, before anything reads it, and the request gets an id of its own instead.
pub const TRACE_HEADERS: [HeaderName; 3] = [
    REQUEST_ID,
    CORRELATION_ID,
    HeaderName::from_static("x-causation-id"),
];

/// The value of a [`TRACE_HEADERS`] header if it is usable: trimmed, 1 to 128 printable ASCII
/// characters without spaces; `None` otherwise.
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

/// Counts, times and logs every request by method, route and status. The route is the template
/// (`/products/{id}`), never the raw path: one series per product id would exhaust Prometheus.
/// Requests no route matched share `route="unmatched"`.
///
/// Each request ends with one line in its span (so with its request and correlation ids): at
/// info for every change and every failure, at debug for a read that succeeded. A busy
/// query-api answers tens of thousands of reads a second; a line for each would cost more than
/// the read, and the metrics already count them.
async fn observe(request: AxumRequest, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    // Shares the request's bytes: nothing is copied unless the line is written.
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let latency = started.elapsed();
    let status = response.status();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let read = matches!(method, Method::GET | Method::HEAD);
    let (path, status_code) = (uri.path(), status.as_u16());
    if read && (status.is_success() || status.is_redirection()) {
        tracing::debug!(%method, path, status = status_code, latency_ms, "finished processing request");
    } else {
        tracing::info!(%method, path, status = status_code, latency_ms, "finished processing request");
    }
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    HTTP_SERIES.with_borrow_mut(|series| {
        let (counter, histogram) = series.handles(&method, route, status);
        counter.increment(1);
        histogram.record(latency.as_secs_f64());
    });
    response
}

thread_local! {
    static HTTP_SERIES: std::cell::RefCell<HttpSeries> = Default::default();
}

/// The metric handles of each (method, route, status) this thread has answered, so that a
/// request costs two atomic updates rather than two registry lookups with their allocations.
/// The label sets are bounded: standard methods only (any other is `OTHER`), route templates
/// only, and status codes.
#[derive(Default)]
struct HttpSeries(HashMap<String, HashMap<(&'static str, u16), Handles>>);

type Handles = (metrics::Counter, metrics::Histogram);

impl HttpSeries {
    fn handles(&mut self, method: &Method, route: &str, status: StatusCode) -> &Handles {
        let method = method_label(method);
        // Looked up by the borrowed route: the owned copy is made once per route and thread.
        if !self.0.contains_key(route) {
            self.0.insert(route.to_owned(), HashMap::new());
        }
        let by_route = self.0.get_mut(route).expect("inserted above");
        by_route
            .entry((method, status.as_u16()))
            .or_insert_with(|| {
                let labels = [
                    ("method", method.to_owned()),
                    ("route", route.to_owned()),
                    ("status", status.as_str().to_owned()),
                ];
                (
                    metrics::counter!("catalog_http_requests_total", &labels),
                    metrics::histogram!("catalog_http_request_duration_seconds", &labels),
                )
            })
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
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
// Async with nothing to await: an axum handler must be (command-api and query-api pass it to
// `method_not_allowed_fallback`); `not_found` escapes the lint only by being used in this crate.
#[allow(clippy::unused_async)]
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this route does not accept that method",
    )
}

/// `"<version>"`: the entity tag of a product at a version, on command answers and reads alike.
pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

/// Serves `router` on `listener` until `shutdown` fires, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: crate::shutdown::Shutdown,
) -> anyhow::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
        .map_err(|err| anyhow::Error::new(err).context("HTTP server failed"))
}

/// `/health/*` and `/metrics` alone, for a process that has no HTTP API of its own.
pub fn operations(dependencies: Vec<crate::health::Dependency>) -> Router {
    crate::health::router_with(dependencies)
        .merge(crate::metrics::router())
        .fallback(not_found)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_request_past_the_timeout_answers_a_503_problem_with_retry_after() {
        let slow = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
        // With and without routes of their own limit: the plain layer and the per-route one.
        for long_requests in [
            vec![],
            vec![(Method::POST, "/upload", Duration::from_secs(60))],
        ] {
            let options = HttpOptions {
                timeout: Duration::from_millis(20),
                long_requests,
                cors_allowed_origins: Vec::new(),
            };
            let request = axum::http::Request::get("/slow")
                .body(Body::empty())
                .unwrap();
            let response = layers(slow.clone(), options)
                .oneshot(request)
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                crate::problem::CONTENT_TYPE
            );
            assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        }
    }

    #[tokio::test]
    async fn a_route_with_a_longer_limit_gets_it() {
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            "done"
        };
        let routes = Router::new().route("/upload", axum::routing::post(slow).get(slow));
        let options = HttpOptions {
            timeout: Duration::from_millis(20),
            long_requests: vec![(Method::POST, "/upload", Duration::from_secs(60))],
            cors_allowed_origins: Vec::new(),
        };
        let app = layers(routes, options);
        let post = axum::http::Request::post("/upload")
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(post).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "the route's own limit");
        let get = axum::http::Request::get("/upload")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(get).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "another method of the same path keeps the default"
        );
    }
}
