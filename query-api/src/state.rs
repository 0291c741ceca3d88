//! The state every handler shares.

use std::sync::Arc;

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
    /// Where lists and searches are read: the read replica, or `pool` without one.
    pub lists: PgPool,
    pub redis: RedisReadModel,
    pub auth: Arc<Authenticator>,
    pub reader: Arc<ProductReader>,
    pub versions: Arc<VersionWatch>,
    pub blobs: BlobStore,
    pub status: StatusCache,
}
