//! The Catalog console: a web page to browse products, their images and their history, and to
//! edit them signed in (or with a pasted token). Its HTML, CSS and JavaScript (`query-api/console/`) are
//! compiled into the binary, so it needs no other server and no network beyond the two APIs.
//!
//! - `GET /` and `GET /console` redirect to `GET /console/`, the page.
//! - `GET /console/{file}`: the scripts and styles, revalidated by ETag on every load so a new
//!   release is picked up at once while an unchanged one costs a 304.
//! - `GET /console/config.json`: where the command API is (`CONSOLE_COMMAND_API_ORIGIN`;
//!   without it the console only reads), and the field limits its forms state, from the
//!   domain's rules.
//!
//! The page's Content-Security-Policy allows scripts and styles from this origin only, and
//! connections to this origin and the command API's.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};

use catalog_domain::rules;

use crate::error::ApiError;
use crate::state::AppState;
use catalog_support::problem::CommonError;

/// The redirects to `/console/`, the page, its files and `config.json`; none needs a token.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(to_console))
        .route("/console", get(to_console))
        .route("/console/", get(page))
        .route("/console/config.json", get(config))
        .route("/console/{file}", get(asset))
}

/// One file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $type:expr),* $(,)?) => {
        [$(Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../console/", $name)),
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: [Asset; 18] = assets![
    "index.html" => "text/html; charset=utf-8",
    "console.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "blurhash.js" => JS,
    "images.js" => JS,
    "list.js" => JS,
    "product.js" => JS,
    "history.js" => JS,
    "status.js" => JS,
    "types.js" => JS,
    "subscriptions.js" => JS,
    "imports.js" => JS,
    "attributes.js" => JS,
    "variants.js" => JS,
    "prices.js" => JS,
];

/// Each asset's ETag: a hash of its bytes, so it changes exactly when the file does.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let mut hasher = DefaultHasher::new();
            asset.bytes.hash(&mut hasher);
            HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
                .expect("hex is valid header text")
        })
        .collect()
});

async fn to_console() -> Redirect {
    Redirect::permanent("/console/")
}

async fn page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    serve(&app, "index.html", &headers).expect("the page is among the assets")
}

async fn asset(
    State(app): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(&app, &file, &headers).ok_or(ApiError::from(CommonError::NotFound(
        "no such console file",
    )))
}

/// Where the console sends commands, if anywhere.
async fn config(State(app): State<AppState>) -> Response {
    let mut response = Json(serde_json::json!({
        "command_api": app.config.console_command_api,
        "limits": BTreeMap::from(rules::TEXT_LIMITS),
        "sku_pattern": html_pattern(rules::SKU_PATTERN),
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A JSON Schema pattern as an HTML `pattern` attribute: the browser anchors it itself and
/// compiles it with the `v` flag, under which a `-` in a class must be escaped.
fn html_pattern(pattern: &str) -> String {
    pattern
        .trim_start_matches('^')
        .trim_end_matches('$')
        .replace("-]", "\\-]")
}

fn serve(app: &AppState, name: &str, headers: &HeaderMap) -> Option<Response> {
    let index = ASSETS.iter().position(|a| a.name == name)?;
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let mut response = if headers.get(header::IF_NONE_MATCH) == Some(etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp(app));
    Some(response)
}

fn csp(app: &AppState) -> HeaderValue {
    let commands = app.config.console_command_api.as_deref().unwrap_or("");
    HeaderValue::from_str(&format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self' {commands}; manifest-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    ))
    .expect("an origin is valid header text")
}
