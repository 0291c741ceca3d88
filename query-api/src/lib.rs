//! query-api: Catalog's read side. In this version it serves health only; product reads arrive
//! with the read models.
//!
//! - [`Config`]: settings read from the environment.
//! - [`Application`]: binding the listener and serving until shutdown.

use std::net::SocketAddr;

use anyhow::Context;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use catalog_support::config::{ConfigError, Env};
use catalog_support::problem::Problem;
use catalog_support::secret::Secret;
use catalog_support::shutdown::Shutdown;
use sqlx::PgPool;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Config {
    /// `QUERY_API_ADDR`: where the HTTP listener binds.
    pub listen_addr: SocketAddr,
    /// `DATABASE_URL`: the PostgreSQL database holding the read model and the event store.
    pub database_url: Secret,
    /// `DATABASE_MAX_CONNECTIONS`: pool size.
    pub database_max_connections: u32,
}

impl Config {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: env.parse("QUERY_API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)))?,
            database_url: env.url(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/catalog",
                &["postgres", "postgresql"],
            )?,
            database_max_connections: env.parse("DATABASE_MAX_CONNECTIONS", 16u32)?,
        })
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    pool: PgPool,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = catalog_support::db::pool(
            config.database_url.expose(),
            config.database_max_connections,
        )
        .context("DATABASE_URL cannot be used")?;
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
        let router = catalog_support::health::router(pool.clone())
            .merge(catalog_support::metrics::router())
            .fallback(not_found);
        Ok(Self {
            listener,
            router,
            pool,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "query-api listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await
            .context("HTTP server failed")?;
        self.pool.close().await;
        tracing::info!("query-api stopped");
        Ok(())
    }
}

async fn not_found() -> impl IntoResponse {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "no such route",
    )
}
