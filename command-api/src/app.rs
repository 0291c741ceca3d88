//! Building and running the service: `Application::build` binds the listener (port 0 in
//! tests) and `run_until_stopped` serves until the shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use catalog_store::append::Grouping;
use catalog_store::blobs::BlobStore;
use catalog_store::relay::{self, RelayConfig};
use catalog_support::auth::Authenticator;
use catalog_support::health::Link;
use catalog_support::http::HttpOptions;
use catalog_support::session::Sessions;
use catalog_support::shutdown::Shutdown;
use catalog_support::tasks::Tasks;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::idempotency::Idempotency;
use crate::rate_limit::RateLimiter;
use crate::routes;
use crate::state::{AppState, Shared};
use catalog_domain::Schema;
use catalog_store::event_store::ProductStore;
use catalog_store::skus::SkuRegistry;

/// command-api, built and bound but not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects to PostgreSQL, migrates if configured, and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = catalog_support::db::pool(
            config.database_url.expose(),
            config.database_max_connections,
        )
        .context("DATABASE_URL cannot be used")?;
        if config.migrate_on_start {
            catalog_support::db::migrate(&pool).await?;
        }
        Self::with_pool(config, pool).await
    }

    /// Builds on an existing pool whose database is already migrated (tests).
    pub async fn with_pool(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
        let rate_limiter = RateLimiter::new(
            &config.redis,
            &config.namespace,
            config.rate_limit_per_second,
            config.rate_limit_burst,
        )
        .context("REDIS_URL cannot be used")?;
        let blobs = BlobStore::from_url(&config.blob_store)?;
        let records = catalog_support::db::unflushed(&pool, config.database_max_connections);
        // Requests and imports write the same store, each in groups of their own size.
        let product_store = || {
            ProductStore::new(
                pool.clone(),
                config.snapshot_every,
                Schema::new(config.default_locale.clone()),
            )
        };
        let store = product_store()
            .caching(config.product_cache_entries)
            .grouped(config.append_grouping);
        let import_store = product_store().grouped(Grouping {
            writers: 1,
            max_commands: config.import_concurrency,
        });
        // Reads the JWKS, when one is configured: an unreachable JWKS_URL only logs, a
        // JWKS_FILE that cannot be read stops the start.
        // People signed in to the console send their session cookie instead of a token.
        let sessions = Sessions::new(&config.redis, &config.namespace)
            .context("REDIS_URL cannot be used for sessions")?;
        let auth = Arc::new(
            Authenticator::from_settings(&config.auth)
                .await?
                .with_sessions(sessions),
        );
        let state: AppState = Arc::new(Shared {
            records,
            blobs,
            relay_link: Link::default(),
            imports: Arc::default(),
            rate_limiter,
            auth,
            store: Arc::new(store),
            import_store: Arc::new(import_store),
            skus: Arc::new(SkuRegistry::new(pool.clone())),
            config: Arc::new(config),
            pool,
        });
        Ok(Self {
            listener,
            router: app(state.clone()),
            state,
        })
    }

    /// The address the listener is bound to: the port chosen when `COMMAND_API_ADDR` gave 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` fires, then lets in-flight requests finish. The relay (when
    /// enabled) and the purge of expired idempotency keys run beside the server, supervised:
    /// if one of them ends on its own, the process stops with an error.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let mut tasks = Tasks::new(shutdown.clone());
        let state = &self.state;
        let idempotency = Idempotency {
            pool: state.records.clone(),
            ttl: state.config.idempotency_ttl,
            max_body: 0,
            run_limit: state.config.request_timeout,
        };
        tasks.spawn(
            "idempotency key purge",
            purge_idempotency_keys(idempotency, shutdown.clone()),
        );
        tasks.spawn(
            "imports",
            crate::imports::run(state.clone(), Arc::clone(&state.imports), shutdown.clone()),
        );
        if state.config.relay_enabled {
            let config = &state.config;
            let relay = RelayConfig {
                amqp_url: config.amqp_url.expose().to_string(),
                namespace: config.namespace.clone(),
                batch_size: config.relay_batch_size,
                poll_interval: config.relay_poll_interval,
                rounds_in_flight: config.relay_rounds_in_flight,
                projector_shards: config.projector_shards,
                link: state.relay_link.clone(),
            };
            let (pool, stop) = (state.pool.clone(), shutdown.clone());
            tasks.spawn("relay", relay::run(pool, relay, stop));
        }
        tracing::info!(addr = %self.local_addr(), "command-api listening");
        let pool = state.pool.clone();
        tasks.spawn(
            "HTTP server",
            catalog_support::http::serve(self.listener, self.router, shutdown),
        );
        let stopped = tasks.run_until_stopped().await;
        pool.close().await;
        tracing::info!("command-api stopped");
        stopped
    }
}

/// The whole service as a `Router`: routes plus the layers every request passes through.
pub fn app(state: AppState) -> Router {
    let options = HttpOptions {
        timeout: state.config.request_timeout,
        long_requests: vec![(
            axum::http::Method::POST,
            "/imports",
            state.config.import_upload_timeout,
        )],
        cors_allowed_origins: state.config.cors_allowed_origins.clone(),
    };
    catalog_support::http::layers(routes::router(state), options)
}

async fn purge_idempotency_keys(idempotency: Idempotency, shutdown: Shutdown) {
    shutdown
        .every(Duration::from_secs(3600), || async {
            match idempotency.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired idempotency keys purged"),
                Err(err) => tracing::warn!(error = %err, "idempotency purge failed; will retry"),
            }
        })
        .await;
}
