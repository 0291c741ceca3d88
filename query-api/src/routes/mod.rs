//! Every route of query-api, grouped by resource and merged in [`router`].

pub(crate) mod audit;
pub(crate) mod images;
pub(crate) mod products;
pub mod status;

use std::sync::Arc;

use axum::{middleware, Router};
use catalog_support::auth::{require_scope, RequireScope, SCOPE_AUDIT};
use catalog_support::health::{Dependency, Need};

use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    let auditor = RequireScope {
        auth: Arc::clone(&state.auth),
        scope: SCOPE_AUDIT,
    };
    let audit = audit::router().route_layer(middleware::from_fn_with_state(auditor, require_scope));
    let mut checks = vec![
        Dependency::postgres(state.pool.clone()),
        // Reads fall back to PostgreSQL without Redis: degraded, still ready.
        Dependency::redis(state.redis.clone(), Need::Optional),
        // Only rendition downloads need the blob store.
        Dependency::blobs(state.blobs.clone(), Need::Optional),
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
        .merge(images::router())
        .merge(status::router())
        .merge(crate::console::router())
        .merge(audit)
        .fallback(catalog_support::http::not_found)
        .method_not_allowed_fallback(catalog_support::http::method_not_allowed)
        .with_state(state)
        .merge(catalog_support::health::router_with(checks))
        .merge(catalog_support::metrics::router())
        .merge(catalog_support::openapi::router(&crate::openapi::document()))
}
