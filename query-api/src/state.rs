//! The state every handler shares.

use std::sync::Arc;

use catalog_domain::Schema;
use catalog_read_model::redis::RedisReadModel;
use catalog_store::blobs::BlobStore;
use catalog_support::auth::Authenticator;
use sqlx::PgPool;

use crate::config::Config;
use crate::pipeline::StatusCache;
use crate::reader::ProductReader;
use crate::versions::VersionWatch;

/// Shared by every handler. Axum clones the state for every request, so it is one `Arc`: a
/// clone is one atomic increment, whatever the state holds.
pub type AppState = Arc<Shared>;

/// What [`AppState`] points to: built once in
/// [`Application::with_pool`](crate::app::Application::with_pool), read by every handler.
pub struct Shared {
    /// The settings: handlers read the `min_version` wait, the namespace and the console's
    /// command API from it.
    pub config: Arc<Config>,
    /// The primary database (`DATABASE_URL`): history and past versions, single-product loads,
    /// the pipeline status, and readiness.
    pub pool: PgPool,
    /// Where lists and searches are read: the read replica, or `pool` without one.
    pub lists: PgPool,
    /// Facet counts from memory, following `lists` (`FACET_INDEX`); `None` counts them in
    /// PostgreSQL.
    pub facets: Option<Arc<catalog_read_model::facet_index::FacetIndex>>,
    /// The Redis read model: the version subscription runs on it; readiness checks it.
    pub redis: RedisReadModel,
    /// Checks the bearer tokens and session cookies of the audit routes (scope
    /// `catalog:audit`).
    pub auth: Arc<Authenticator>,
    /// The signed-in sessions: `POST`, `GET` and `DELETE /session`.
    pub sessions: catalog_support::session::Sessions,
    /// Reads one product through the local cache, Redis and PostgreSQL (`GET /products/{id}`).
    pub reader: Arc<ProductReader>,
    /// Read-your-writes: what `?min_version=` waits on.
    pub versions: Arc<VersionWatch>,
    /// Where image renditions are streamed from.
    pub blobs: BlobStore,
    /// The last `GET /status` answer, shared by every caller for a second.
    pub status: StatusCache,
    /// The change feed's open streams and what wakes them.
    pub streams: Arc<crate::feed::Streams>,
    /// How stored events are read (history, past versions, product types): older shapes
    /// upcast, v1's plain texts in the default locale.
    pub schema: Schema,
}
