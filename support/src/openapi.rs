//! What the OpenAPI documents of both HTTP services share, and the routes that serve them.
//!
//! - The problem+json schema (`Problem`, `FieldViolation`) and the error responses built on it,
//!   as components every operation refers to.
//! - The bearer JWT security scheme (`bearer`); operations name the scope they need.
//! - The operational routes: `/health/live`, `/health/ready`, `/metrics`, `/openapi.json` and
//!   `/docs`.
//! - [`router`]: `GET /openapi.json` (the document, serialized once) and `GET /docs`, Swagger UI
//!   from assets compiled into the binary (`utoipa-swagger-ui`'s `vendored` feature takes them
//!   from a crates.io crate): the page works without any network access.
//!
//! Each service derives its own document from its handlers (`<service>/src/openapi.rs`) and
//! merges [`Common`] into it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Content, ObjectBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi, ToResponse};

use crate::problem::{self, FieldViolationDoc, Problem, ProblemDoc};

/// Name of the security scheme: `Authorization: Bearer <JWT>`, HS256.
pub const BEARER: &str = "bearer";

/// Text that can be stored: no NUL character (PostgreSQL text and jsonb cannot hold U+0000).
pub const STORABLE: &str = "^[^\\u0000]*$";

/// Storable text that is not blank: at least one character that is not white space as the
/// services see it (`char::is_whitespace`, `str::trim`: the Unicode White_Space property).
pub const NOT_BLANK: &str = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$";

fn header_of(kind: Type, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(kind))
        .description(Some(description))
        .build()
}

fn retry_after() -> Header {
    header_of(Type::Integer, "Seconds to wait before retrying")
}

fn etag() -> Header {
    header_of(
        Type::String,
        "`\"<version>\"`: the product's current version",
    )
}

fn challenge() -> Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^Bearer")),
        )
        .description(Some(
            "`Bearer realm=\"catalog\"`, with `error=\"invalid_token\"` or \
             `error=\"insufficient_scope\", scope=\"…\"` when that is the reason",
        ))
        .build()
}

fn problem_response(
    description: &str,
    headers: Vec<(&str, Header)>,
) -> RefOr<utoipa::openapi::Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        problem::CONTENT_TYPE,
        Content::new(Some(Ref::from_schema_name("Problem"))),
    );
    for (name, header) in headers {
        response = response.header(name, header);
    }
    response.build().into()
}

/// Reusable error responses, registered under `components/responses` by [`Common`].
macro_rules! problem_responses {
    ($($(#[$meta:meta])* $name:ident => $description:literal $(, $header:literal = $make:expr)*;)*) => {$(
        // The description documents the type as well; the OpenAPI document takes it from
        // `ToResponse` below, never from these docs.
        #[doc = concat!($description, ".")]
        #[doc = ""]
        #[doc = "One of the shared problem responses, registered by [`Common`]."]
        $(#[$meta])*
        pub struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
                (
                    stringify!($name),
                    problem_response($description, vec![$(($header, $make)),*]),
                )
            }
        }
    )*};
}

problem_responses! {
    BadRequest => "Malformed request: the body is not JSON or a value has the wrong type, or a \
                   header (`If-Match`, `Idempotency-Key`) is malformed";
    Unauthorized => "Missing, malformed, forged or expired bearer token",
        "WWW-Authenticate" = challenge();
    Forbidden => "The token lacks the scope this route needs",
        "WWW-Authenticate" = challenge();
    NotFound => "No such product (or image, or version)";
    Conflict => "Refused in the product's current state (archived, already published, not \
                 published, insufficient stock, too many images), SKU taken, or the same \
                 Idempotency-Key still in progress (then with `Retry-After`)",
        "Retry-After" = retry_after();
    PreconditionFailed => "`If-Match` names another version than the product's; nothing was \
                           written. The body's `current_version` and the `ETag` name the \
                           product's version now",
        "ETag" = etag();
    PayloadTooLarge => "The body is over its limit (1 MiB of JSON, 20 MiB of upload by default)";
    UnsupportedMediaType => "The body is not sent as the media type this route reads, or the \
                             upload is not a JPEG, PNG, WebP or GIF image";
    Unprocessable => "Well-formed values that break a rule, listed in `errors`; or an \
                      Idempotency-Key already used with another request";
    TooManyRequests => "Over this client's rate limit",
        "Retry-After" = retry_after();
    Unavailable => "A dependency the request needs does not answer, or the read model has not \
                    reached `min_version` in time",
        "Retry-After" = retry_after();
}

/// The shared problem response answered with `status`, by its component name.
fn problem_response_name(status: u16) -> &'static str {
    let (name, _) = match status {
        400 => BadRequest::response(),
        401 => Unauthorized::response(),
        403 => Forbidden::response(),
        404 => NotFound::response(),
        409 => Conflict::response(),
        412 => PreconditionFailed::response(),
        413 => PayloadTooLarge::response(),
        415 => UnsupportedMediaType::response(),
        422 => Unprocessable::response(),
        429 => TooManyRequests::response(),
        503 => Unavailable::response(),
        other => panic!("no shared problem response for status {other}"),
    };
    name
}

/// References to the shared problem responses of `statuses`: what a [`problem_set!`] type
/// answers for `responses(...)`.
pub fn problem_refs(statuses: &[u16]) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    statuses
        .iter()
        .map(|&status| {
            let reference = Ref::from_response_name(problem_response_name(status));
            (status.to_string(), RefOr::Ref(reference))
        })
        .collect()
}

/// Declares a named set of the problem responses an operation can answer, by status, to be
/// listed in `#[utoipa::path(responses(..))]` beside the success. Each service declares its
/// sets once, in its own `openapi` module, instead of every operation spelling them out.
#[macro_export]
macro_rules! problem_set {
    ($(#[$meta:meta])* $vis:vis $name:ident = [$($status:literal),* $(,)?]) => {
        $(#[$meta])*
        // Appended to the invocation's own doc comment, and enough for `missing_docs` in the
        // invoking crate should it have none. utoipa reads the responses from `IntoResponses`
        // below, never from these docs.
        #[doc = ""]
        #[doc = concat!("Problem responses: ", stringify!($($status),*), ".")]
        $vis struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::Response>,
            > {
                $crate::openapi::problem_refs(&[$($status),*])
            }
        }
    };
}

/// Adds the bearer scheme. Operations that need a token name it with the scope they require.
pub struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT: HS256 signed with `JWT_SECRET`, or RS256, ES256 or EdDSA signed \
                         with a key of the JWKS at `JWKS_URL` (named by `kid`); claims `sub` \
                         (the actor), `scope` (space-separated: `catalog:write`, \
                         `catalog:audit`, `catalog:admin`) and `exp`. A person signed in with \
                         `POST /session` (query-api) sends the `catalog_session` cookie instead, \
                         and `X-CSRF-Token` with every change",
                    ))
                    .build(),
            ),
        );
    }
}

/// `GET /metrics` (documentation only: the route is `metrics::router`'s closure).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text format", body = String,
         content_type = "text/plain; version=0.0.4"),
    ),
)]
#[allow(dead_code)]
fn metrics() {}

/// The parts of every service's document that do not depend on the service.
#[derive(OpenApi)]
#[openapi(
    paths(crate::health::live, crate::health::ready, metrics, openapi_json, docs_page),
    components(
        schemas(ProblemDoc, FieldViolationDoc),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            PreconditionFailed,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            Unavailable
        )
    ),
    modifiers(&BearerSecurity),
    tags((name = "operations", description = "Health, metrics and this document")),
)]
pub struct Common;

/// A service's document with [`Common`] merged in.
pub fn with_common(mut document: Document) -> Document {
    document.merge(Common::openapi());
    document
}

/// The document as served, with two things utoipa 5 cannot write added here:
/// - `required` on response headers (its header objects have no such field): every documented
///   response header is always sent, except `Idempotent-Replayed` (only on a replay) and
///   `Retry-After` on a 409 (only when retrying can help);
/// - link objects in the spec's camelCase (`operationId`; utoipa writes `operation_id`).
pub fn to_json(document: &Document) -> Value {
    let mut value = serde_json::to_value(document).expect("an OpenAPI document serializes");
    let require = |response: &mut Value, status: &str| {
        if let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) {
            for (name, header) in headers {
                let optional =
                    name == "Idempotent-Replayed" || (name == "Retry-After" && status == "409");
                if !optional {
                    header["required"] = Value::Bool(true);
                }
            }
        }
        if let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) {
            for link in links.values_mut().filter_map(Value::as_object_mut) {
                for (from, to) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(field) = link.remove(from) {
                        link.insert(to.to_string(), field);
                    }
                }
            }
        }
    };
    if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                let Some(responses) = operation
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for (status, response) in responses {
                    require(response, status);
                }
            }
        }
    }
    if let Some(responses) = value
        .pointer_mut("/components/responses")
        .and_then(Value::as_object_mut)
    {
        for (name, response) in responses {
            require(response, if name == "Conflict" { "409" } else { "" });
        }
    }
    value
}

/// The OpenAPI 3.1 document of this service.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses(
        (status = 200, description = "This document (OpenAPI 3.1)", body = Object,
         content_type = "application/json"),
    ),
)]
async fn openapi_json(State(docs): State<Arc<Docs>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        docs.json.clone(),
    )
        .into_response()
}

/// Interactive documentation (Swagger UI) of this document; its assets are served from the
/// binary under `/docs/`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    operation_id = "docs",
    responses(
        (status = 200, description = "Swagger UI page", body = String,
         content_type = "text/html"),
    ),
)]
async fn docs_page(State(docs): State<Arc<Docs>>) -> Response {
    docs.asset("")
}

async fn docs_asset(State(docs): State<Arc<Docs>>, Path(file): Path<String>) -> Response {
    docs.asset(&file)
}

struct Docs {
    json: Bytes,
    ui: Arc<utoipa_swagger_ui::Config<'static>>,
}

/// Where the Swagger UI assets are served; the page itself answers at `/docs` too.
const DOCS_BASE: &str = "/docs/";

/// The docs page's own content security policy, in place of the API's `default-src 'none'`
/// (which would block Swagger UI's scripts and styles): its scripts, styles and fonts from this
/// origin only, the data: images its stylesheet embeds, requests ("Try it out") to this origin.
/// Swagger UI sets some styles inline, hence `'unsafe-inline'` for styles (never scripts).
pub const CSP_DOCS: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; base-uri 'self'; frame-ancestors 'none'";

impl Docs {
    fn asset(&self, file: &str) -> Response {
        match utoipa_swagger_ui::serve(file, Arc::clone(&self.ui)) {
            Ok(Some(asset)) => {
                let mut bytes = asset.bytes;
                if asset.content_type.starts_with("text/html") {
                    // The page refers to its assets relatively (`./swagger-ui.css`): a base makes
                    // them resolve under /docs/ whether it is loaded as /docs or /docs/.
                    let page = String::from_utf8_lossy(&bytes).replacen(
                        "<head>",
                        &format!("<head>\n    <base href=\"{DOCS_BASE}\">"),
                        1,
                    );
                    bytes = Cow::Owned(page.into_bytes());
                }
                let content_type = HeaderValue::from_str(&asset.content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream"));
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        (
                            header::CONTENT_SECURITY_POLICY,
                            HeaderValue::from_static(CSP_DOCS),
                        ),
                    ],
                    bytes.into_owned(),
                )
                    .into_response()
            }
            Ok(None) => Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "no such documentation asset",
            )
            .into_response(),
            Err(err) => {
                tracing::error!(error = %err, "Swagger UI asset failed");
                Problem::internal().into_response()
            }
        }
    }
}

/// `GET /openapi.json` and `GET /docs` (+ its assets under `/docs/`) for `document`.
pub fn router(document: &Document) -> Router {
    let json = serde_json::to_vec(&to_json(document)).expect("an OpenAPI document serializes");
    let ui = utoipa_swagger_ui::Config::from("/openapi.json")
        .try_it_out_enabled(true)
        .persist_authorization(true);
    let docs = Arc::new(Docs {
        json: Bytes::from(json),
        ui: Arc::new(ui),
    });
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .route(DOCS_BASE, get(docs_page))
        .route(&format!("{DOCS_BASE}{{*file}}"), get(docs_asset))
        .with_state(docs)
}
