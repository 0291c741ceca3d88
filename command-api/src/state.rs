//! The state every handler shares.

use std::sync::Arc;

use catalog_store::blobs::BlobStore;
use catalog_store::event_store::ProductStore;
use catalog_support::auth::Authenticator;
use catalog_support::health::Link;
use sqlx::PgPool;

use crate::config::Config;
use crate::rate_limit::RateLimiter;
use catalog_store::skus::SkuRegistry;

/// Shared by every handler. Axum clones the state for every request, so it is one `Arc`: a
/// clone is one atomic increment, whatever the state holds.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub auth: Arc<Authenticator>,
    pub store: Arc<ProductStore>,
    pub skus: Arc<SkuRegistry>,
    pub rate_limiter: Option<RateLimiter>,
    pub blobs: BlobStore,
    /// The relay's connection to RabbitMQ, as readiness sees it.
    pub relay_link: Link,
}
