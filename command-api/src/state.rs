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
pub type AppState = Arc<Shared>;

/// What [`AppState`] points to: built once in
/// [`Application::with_pool`](crate::app::Application::with_pool), read by every handler.
pub struct Shared {
    /// The settings: routes read their limits from it, the application its timeouts and
    /// whether to run the relay.
    pub config: Arc<Config>,
    /// The PostgreSQL pool of the event store's database: idempotency records, upload intents,
    /// the relay, and the readiness check use it directly.
    pub pool: PgPool,
    /// The same database without waiting for each commit's WAL flush: the idempotency records,
    /// which a command's durable append flushes with it (see
    /// [`catalog_support::db::unflushed`]).
    pub records: PgPool,
    /// Checks the bearer tokens of the command routes (scope `catalog:write`).
    pub auth: Arc<Authenticator>,
    /// The event store every command is loaded from and appended to.
    pub store: Arc<ProductStore>,
    /// The same event store as imports write to it: the appends of a chunk's lines, run at
    /// once, are written as one group rather than in groups sized for concurrent requests.
    pub import_store: Arc<ProductStore>,
    /// SKU reservations: taken by a create, released by an archive or a create that failed.
    pub skus: Arc<SkuRegistry>,
    /// The per-client limit of the command routes; `None` when `RATE_LIMIT_PER_SECOND` is 0.
    pub rate_limiter: Option<RateLimiter>,
    /// Where uploads store image originals; readiness checks it.
    pub blobs: BlobStore,
    /// The relay's connection to RabbitMQ, as readiness sees it.
    pub relay_link: Link,
    /// Wakes this process's import worker when an upload has recorded a job.
    pub imports: Arc<tokio::sync::Notify>,
}
