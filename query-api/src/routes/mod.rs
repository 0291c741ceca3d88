//! Every route of query-api, grouped by resource and merged in [`router`].

pub(crate) mod audit;
pub(crate) mod export;
pub(crate) mod feed;
pub(crate) mod images;
pub(crate) mod product_types;
pub(crate) mod products;
pub(crate) mod session;
pub mod status;

use std::sync::Arc;

use axum::{middleware, Router};
use catalog_support::auth::{require_scope, RequireScope, SCOPE_AUDIT};
use catalog_support::health::{Dependency, Need};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Catalog query API",
        description = "The read side of Catalog: products from the read models, lists with \
                       filters, search and keyset pagination, image renditions, and (with the \
                       scope `catalog:audit`) each product's history and past versions rebuilt \
                       from the event store. Reads of products and images need no token. Errors \
                       are `application/problem+json` (RFC 9457).",
    ),
    paths(
        products::one,
        products::list,
        product_types::list,
        product_types::one,
        audit::history,
        audit::version_at,
        feed::events,
        feed::stream,
        images::rendition,
        status::status,
        export::export,
        session::sign_in,
        session::current,
        session::sign_out,
    ),
    // Referred to by `ImageView`'s hand-written rendition map, so not collected on its own.
    components(schemas(catalog_domain::RenditionView)),
    tags(
        (name = "products", description = "Products as the read models hold them"),
        (name = "product-types", description = "Product types: the typed attributes their products are checked against"),
        (name = "audit", description = "History and past versions (scope `catalog:audit`)"),
        (name = "feed", description = "The change feed: every stored event in order, paged or live (scope `catalog:audit`)"),
        (name = "images", description = "Image renditions"),
        (name = "export", description = "The whole catalog at one event position"),
        (name = "status", description = "The pipeline's progress: relay backlog, projection lag, images processing"),
        (name = "session", description = "Signing in and out: a session cookie both APIs accept in place of a token"),
    ),
)]
struct QueryApi;

/// The whole document of query-api.
pub fn document() -> Document {
    catalog_support::openapi::with_common(QueryApi::openapi())
}

/// Every route of query-api: products, images, status and the console without a token, the
/// audit routes behind scope `catalog:audit`, then health, metrics and the OpenAPI document.
pub fn router(state: AppState) -> Router {
    let auditor = RequireScope {
        auth: Arc::clone(&state.auth),
        scope: SCOPE_AUDIT,
    };
    let audit = audit::router()
        .merge(feed::router())
        .route_layer(middleware::from_fn_with_state(auditor, require_scope));
    let mut checks = vec![
        Dependency::postgres(state.pool.clone()),
        // Reads fall back to PostgreSQL without Redis: degraded, still ready.
        state.redis.clone().dependency(Need::Optional),
        // Only rendition downloads need the blob store.
        state.blobs.clone().dependency(Need::Optional),
    ];
    if state.config.database_replica_url.is_some() {
        // Lists and searches need it.
        checks.push(Dependency::postgres_named(
            "postgres-replica",
            state.lists.clone(),
        ));
    }
    Router::new()
        .merge(products::router())
        .merge(export::router())
        .merge(product_types::router())
        .merge(images::router())
        .merge(status::router())
        .merge(session::router())
        .merge(crate::console::router())
        .merge(audit)
        .with_state(state)
        .merge(catalog_support::health::router_with(checks))
        .merge(catalog_support::metrics::router())
        .merge(catalog_support::openapi::router(&document()))
        // Last, so that they cover the merged routes too: a fallback applies to the routes
        // the router holds when it is set.
        .fallback(catalog_support::http::not_found)
        .method_not_allowed_fallback(catalog_support::http::method_not_allowed)
}
