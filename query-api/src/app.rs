//! Building and running the service: `Application::build` binds the listener (port 0 in
//! tests) and `run_until_stopped` serves until the shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use catalog_read_model::facet_index::FacetIndex;
use catalog_read_model::generation;
use catalog_read_model::redis::RedisReadModel;
use catalog_store::blobs::BlobStore;
use catalog_support::auth::Authenticator;
use catalog_support::http::HttpOptions;
use catalog_support::session::Sessions;
use catalog_support::shutdown::Shutdown;
use catalog_support::tasks::Tasks;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::local_cache::LocalCache;
use crate::pipeline::StatusCache;
use crate::reader::ProductReader;
use crate::routes;
use crate::state::{AppState, Shared};
use crate::versions::VersionWatch;

/// query-api, built and bound but not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Makes the pool of `DATABASE_URL` (it connects on first use) and binds the listener. It
    /// never migrates: the schema is command-api's to migrate.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = catalog_support::db::pool(
            config.database_url.expose(),
            config.database_max_connections,
        )
        .context("DATABASE_URL cannot be used")?;
        Self::with_pool(config, pool).await
    }

    /// Builds on an existing pool (tests).
    pub async fn with_pool(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
        let redis = RedisReadModel::new(&config.redis, &config.namespace, config.redis_timeout)
            .context("REDIS_URL cannot be used")?;
        // The live generation is learnt from PostgreSQL once it answers (`generations`).
        redis.follow(0);
        let blobs = BlobStore::from_url(&config.blob_store)?;
        // Read models are read through the live generation's views.
        let pool = generation::pool_in(&pool, generation::LIVE_SCHEMA);
        let lists = match &config.database_replica_url {
            Some(url) => generation::pool_in(
                &catalog_support::db::pool(url.expose(), config.database_max_connections)
                    .context("DATABASE_REPLICA_URL cannot be used")?,
                generation::LIVE_SCHEMA,
            ),
            None => pool.clone(),
        };
        let local = Arc::new(LocalCache::new(config.local_cache_bytes));
        // Reads the JWKS, when one is configured: an unreachable JWKS_URL only logs, a
        // JWKS_FILE that cannot be read stops the start.
        // Sessions: `POST /session` starts them, the audit routes accept their cookie.
        let sessions = Sessions::new(&config.redis, &config.namespace)
            .context("REDIS_URL cannot be used for sessions")?;
        let auth = Arc::new(
            Authenticator::from_settings(&config.auth)
                .await?
                .with_sessions(sessions.clone()),
        );
        let state: AppState = Arc::new(Shared {
            blobs,
            auth,
            sessions,
            reader: Arc::new(ProductReader::new(
                redis.clone(),
                pool.clone(),
                local.clone(),
            )),
            versions: VersionWatch::new(local),
            streams: crate::feed::Streams::new(config.streams.clone()),
            schema: catalog_domain::Schema::new(config.default_locale.clone()),
            facets: config.facet_index.then(FacetIndex::new),
            config: Arc::new(config),
            status: StatusCache::default(),
            redis,
            pool,
            lists,
        });
        Ok(Self {
            listener,
            router: app(state.clone()),
            state,
        })
    }

    /// The address the listener is bound to: the port chosen when `QUERY_API_ADDR` gave 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The handlers' shared state, for tests to look inside while the service runs (the
    /// reader's PostgreSQL loads, for one).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` fires, then lets in-flight requests finish. The watch on the
    /// projector's version announcements runs beside the server, supervised.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let mut tasks = Tasks::new(shutdown.clone());
        let watch =
            Arc::clone(&self.state.versions).run(self.state.redis.clone(), shutdown.clone());
        tasks.spawn("version announcements", watch);
        tasks.spawn(
            "read-model generation",
            crate::generations::follow_live(
                self.state.pool.clone(),
                self.state.redis.clone(),
                Arc::clone(&self.state.reader.local),
                shutdown.clone(),
            ),
        );
        tasks.spawn(
            "change feed notifications",
            Arc::clone(&self.state.streams).listen(self.state.pool.clone(), shutdown.clone()),
        );
        if let Some(facets) = &self.state.facets {
            tasks.spawn(
                "facet index",
                Arc::clone(facets).run(self.state.lists.clone(), shutdown.clone()),
            );
        }
        tracing::info!(addr = %self.local_addr(), "query-api listening");
        tasks.spawn(
            "HTTP server",
            catalog_support::http::serve(self.listener, self.router, shutdown),
        );
        let stopped = tasks.run_until_stopped().await;
        self.state.pool.close().await;
        self.state.lists.close().await;
        tracing::info!("query-api stopped");
        stopped
    }
}

/// The whole service as a `Router`: routes plus the layers every request passes through.
pub fn app(state: AppState) -> Router {
    let options = HttpOptions {
        timeout: state.config.request_timeout,
        long_requests: Vec::new(),
        cors_allowed_origins: state.config.cors_allowed_origins.clone(),
    };
    catalog_support::http::layers(routes::router(state), options)
}
