//! Every route of command-api, grouped by resource and merged in [`router`].

pub(crate) mod images;
pub(crate) mod imports;
pub(crate) mod product_types;
pub(crate) mod products;
pub(crate) mod subscriptions;
pub(crate) mod variants;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Extension, Router};
use catalog_support::auth::{require_scope, RequireScope, SCOPE_ADMIN, SCOPE_WRITE};
use catalog_support::health::{Dependency, Need};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use crate::extract::BodyLimit;
use crate::idempotency::{self, Idempotency};
use crate::openapi::{UpdateNeedsAField, UploadIsAnImage};
use crate::rate_limit;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Catalog command API",
        description = "The write side of Catalog: every change to a product is a command, \
                       accepted or refused by the product under the rules, and every accepted \
                       change is an event. Every command route needs a bearer token with the \
                       scope `catalog:write`; every success answers the product's version, \
                       also as `ETag`. Errors are `application/problem+json` (RFC 9457).",
    ),
    paths(
        products::create,
        products::update_details,
        products::change_price,
        products::adjust_stock,
        products::publish,
        products::unpublish,
        products::archive,
        variants::add,
        variants::change,
        variants::remove,
        variants::adjust_stock,
        variants::set_prices,
        variants::set_master_prices,
        images::upload,
        images::remove,
        imports::upload,
        imports::status,
        imports::recent,
        product_types::define,
        subscriptions::list,
        subscriptions::read,
        subscriptions::subscribe,
        subscriptions::unsubscribe,
    ),
    modifiers(&UpdateNeedsAField, &UploadIsAnImage),
    tags(
        (name = "products", description = "Product commands"),
        (name = "variants", description = "Variants (the master, id `master`, holds v1's SKU, price and stock) and price lists"),
        (name = "images", description = "Product images: uploads and removals"),
        (name = "imports", description = "Bulk imports: a file of products, one per line, run in the background"),
        (name = "product-types", description = "Product types (scope `catalog:admin`): typed attribute definitions"),
        (name = "subscriptions", description = "Webhook subscriptions to the change feed (scope `catalog:admin`), delivered by `projector webhooks`"),
    ),
)]
struct CommandApi;

/// The whole document of command-api.
pub fn document() -> Document {
    catalog_support::openapi::with_common(CommandApi::openapi())
}

/// Every route of command-api: the commands behind authentication, the rate limit and
/// idempotency, then health, metrics and the OpenAPI document, which need no token.
pub fn router(state: AppState) -> Router {
    // Uploads carry multipart framing around the file; this much room keeps a file of exactly
    // the limit from being refused for its envelope.
    let upload_body = state.config.upload_max_bytes + 64 * 1024;
    let idempotency = Idempotency {
        pool: state.records.clone(),
        ttl: state.config.idempotency_ttl,
        max_body: state.config.max_json_body.max(upload_body),
        run_limit: state.config.request_timeout,
    };
    let commands = guarded(
        products::router()
            .merge(variants::router())
            .merge(images::router().layer(DefaultBodyLimit::max(upload_body))),
        &state,
        SCOPE_WRITE,
        Some(idempotency),
    );
    // An import streams its body past the JSON limit (it counts against its own), and is
    // idempotent by itself: the same file again writes nothing.
    let imports = guarded(
        imports::router().layer(DefaultBodyLimit::disable()),
        &state,
        SCOPE_WRITE,
        None,
    );
    // A definition is idempotent by itself: sending it again changes nothing.
    let administration = guarded(
        product_types::router().merge(subscriptions::router()),
        &state,
        SCOPE_ADMIN,
        None,
    );
    let health = health_checks(&state);
    Router::new()
        .merge(commands)
        .merge(imports)
        .merge(administration)
        .with_state(state)
        .merge(catalog_support::health::router_with(health))
        .merge(catalog_support::metrics::router())
        .merge(catalog_support::openapi::router(&document()))
        // Last, so that they cover the merged routes too: a fallback applies to the routes
        // the router holds when it is set.
        .fallback(catalog_support::http::not_found)
        .method_not_allowed_fallback(catalog_support::http::method_not_allowed)
}

/// `routes` behind the layers every command passes, outermost first: authentication with
/// `scope`, then the rate limit (per authenticated client; a refused request claims no
/// idempotency key), then idempotency when given, so a replay is only ever served to the actor
/// who made the first request; and the JSON body limit.
fn guarded(
    routes: Router<AppState>,
    state: &AppState,
    scope: &'static str,
    idempotency: Option<Idempotency>,
) -> Router<AppState> {
    let routes = match idempotency {
        Some(idempotency) => routes.route_layer(middleware::from_fn_with_state(
            idempotency,
            idempotency::middleware,
        )),
        None => routes,
    };
    let scope = RequireScope {
        auth: Arc::clone(&state.auth),
        scope,
    };
    routes
        .route_layer(middleware::from_fn_with_state(
            state.rate_limiter.clone(),
            rate_limit::middleware,
        ))
        .route_layer(middleware::from_fn_with_state(scope, require_scope))
        .layer(DefaultBodyLimit::max(state.config.max_json_body))
        .layer(Extension(BodyLimit(state.config.max_json_body)))
}

/// Without PostgreSQL no command can be taken. The others degrade one feature each and leave
/// the service ready: without Redis the rate limit lets requests through, without the blob
/// store uploads answer 503, and without RabbitMQ the relay holds events in the outbox until
/// the broker returns.
fn health_checks(state: &AppState) -> Vec<Dependency> {
    let mut checks = vec![Dependency::postgres(state.pool.clone())];
    if let Some(limiter) = state.rate_limiter.clone() {
        checks.push(Dependency::new("redis", Need::Optional, move || {
            let limiter = limiter.clone();
            async move { limiter.ping().await.map_err(|e| e.to_string()) }
        }));
    }
    checks.push(state.blobs.clone().dependency(Need::Optional));
    if state.config.relay_enabled {
        checks.push(Dependency::link(
            "rabbitmq",
            Need::Optional,
            state.relay_link.clone(),
        ));
    }
    checks
}
