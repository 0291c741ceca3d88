//! The projector's long-running processes, each built and then run until stopped, with
//! `/health/*` and `/metrics` on a listener of its own:
//!
//! - [`ReadModelsProcess`] (`projector run`): consumes the events and keeps both read models
//!   of this release's generation, brings that generation live when it is new, and refills
//!   Redis when it comes back empty.
//! - [`ImagesProcess`] (`projector images`): renders the renditions of attached images and
//!   sweeps the originals of uploads that were never attached.
//! - [`WebhooksProcess`] (`projector webhooks`): delivers the change feed to the webhook
//!   subscriptions.
//!
//! Their background tasks are supervised ([`Tasks`]): one that ends on its own stops the
//! process with an error instead of leaving it half working.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use catalog_domain::Schema;
use catalog_read_model::postgres::PgReadModel;
use catalog_read_model::redis::RedisReadModel;
use catalog_renditions::Limits;
use catalog_store::blobs::BlobStore;
use catalog_store::broker::Topology;
use catalog_store::event_store::ProductStore;
use catalog_support::health::{Dependency, Need};
use catalog_support::shutdown::Shutdown;
use catalog_support::tasks::Tasks;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::consumer::{report_status, Stats};
use crate::generation::Upgrade;
use crate::images::{ImageConsumer, ImageWorker};
use crate::read_models::{Projector, ReadModels};
use crate::sweep::Sweep;

/// How long a Redis call may take before the consumer counts it as failed and retries.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the projector checks that Redis still holds the read model (it refills it when
/// Redis restarted empty or was flushed).
const REFILL_CHECK_EVERY: Duration = Duration::from_secs(2);

/// The connections each process holds: the consumer's batches, readiness and the periodic
/// jobs share them.
const POOL_SIZE: u32 = 8;

/// The listener of `/health/*` and `/metrics`, bound at build so that a taken port stops the
/// process before it consumes anything.
struct Operations {
    listener: TcpListener,
    router: Router,
}

impl Operations {
    async fn bind(
        addr: std::net::SocketAddr,
        dependencies: Vec<Dependency>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(%addr, "metrics and health listening");
        Ok(Self {
            listener,
            router: catalog_support::http::operations(dependencies),
        })
    }

    /// The tasks every consumer process starts with: this listener and the periodic status
    /// line.
    fn start(self, stats: &Arc<Stats>, status_every: Duration, shutdown: &Shutdown) -> Tasks {
        let mut tasks = self.serve(shutdown);
        tasks.spawn(
            "status report",
            report_status(Arc::clone(stats), status_every, shutdown.clone()),
        );
        tasks
    }

    /// This listener alone, as the first of a process's tasks.
    fn serve(self, shutdown: &Shutdown) -> Tasks {
        let mut tasks = Tasks::new(shutdown.clone());
        tasks.spawn(
            "metrics and health listener",
            catalog_support::http::serve(self.listener, self.router, shutdown.clone()),
        );
        tasks
    }
}

/// Connections like `pool`'s whose read-model tables are this release's generation's.
pub fn own_generation(pool: PgPool) -> PgPool {
    catalog_read_model::generation::pool_in(
        &pool,
        &catalog_read_model::generation::schema(catalog_read_model::generation::GENERATION),
    )
}

/// Runs `tasks` until they stop, then closes the pool: how each process ends.
async fn stop(tasks: Tasks, pool: PgPool, process: &str) -> anyhow::Result<()> {
    let stopped = tasks.run_until_stopped().await;
    pool.close().await;
    tracing::info!("{process} stopped");
    stopped
}

/// `projector run`: the read models' consumer.
pub struct ReadModelsProcess {
    config: Config,
    pool: PgPool,
    redis: RedisReadModel,
    stats: Arc<Stats>,
    operations: Operations,
}

impl ReadModelsProcess {
    /// Redis is connected lazily: the consumer must start, and wait, while Redis is away.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = own_generation(catalog_support::db::pool(
            config.database_url.expose(),
            POOL_SIZE,
        )?);
        let redis = RedisReadModel::new(&config.redis, &config.namespace, REDIS_TIMEOUT)?;
        let stats = Arc::new(Stats::default());
        // Every event goes to both read models: without any of the three, no progress.
        let dependencies = vec![
            Dependency::postgres(pool.clone()),
            redis.dependency(Need::Required),
            Dependency::link("rabbitmq", Need::Required, stats.link.clone()),
        ];
        let operations = Operations::bind(config.http_addr, dependencies).await?;
        Ok(Self {
            config,
            pool,
            redis,
            stats,
            operations,
        })
    }

    /// Serves `/health/*` and `/metrics`, logs the status line, keeps Redis filled and consumes
    /// the events in order until `shutdown`; then closes the pool. Fails when one of those
    /// tasks ends on its own or with an error.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let Self {
            config,
            pool,
            redis,
            stats,
            operations,
        } = self;
        let mut tasks = operations.start(&stats, config.status_every, &shutdown);
        tasks.spawn(
            "Redis refill",
            crate::refill::keep_redis_filled(
                pool.clone(),
                redis.clone(),
                REFILL_CHECK_EVERY,
                shutdown.clone(),
            ),
        );
        let schema = Schema::new(config.default_locale.clone());
        let topology = Topology::new(&config.namespace).with_shards(config.shards);
        let upgrade = Upgrade {
            pool: pool.clone(),
            redis: redis.clone(),
            schema: schema.clone(),
            topology: topology.clone(),
            amqp_url: config.amqp_url.expose().to_string(),
        };
        tasks.spawn("read-model generation", upgrade.run(shutdown.clone()));
        let projector = Projector {
            handler: Arc::new(ReadModels {
                postgres: PgReadModel::new(pool.clone(), schema),
                redis,
                stats: Arc::clone(&stats),
            }),
            topology,
            placement: config.placement,
            stats,
            concurrency: 1,
        };
        tasks.spawn("consumer", async move {
            projector
                .run(config.amqp_url.expose(), config.prefetch, &shutdown)
                .await;
        });
        stop(tasks, pool, "projector").await
    }
}

/// `projector images`: the image worker.
pub struct ImagesProcess {
    config: Config,
    pool: PgPool,
    blobs: BlobStore,
    stats: Arc<Stats>,
    operations: Operations,
}

impl ImagesProcess {
    /// Creates the (lazy) pool and the blob store and binds the listener; nothing is consumed
    /// yet. Fails when the blob directory cannot be created or the port is taken.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = catalog_support::db::pool(config.database_url.expose(), POOL_SIZE)?;
        let blobs = BlobStore::from_url(&config.blob_store)?;
        let stats = Arc::new(Stats::default());
        let dependencies = vec![
            Dependency::postgres(pool.clone()),
            Dependency::link("rabbitmq", Need::Required, stats.link.clone()),
            blobs.dependency(Need::Required),
        ];
        let operations = Operations::bind(config.image_http_addr, dependencies).await?;
        Ok(Self {
            config,
            pool,
            blobs,
            stats,
            operations,
        })
    }

    /// Serves `/health/*` and `/metrics`, logs the status line, sweeps abandoned uploads and
    /// renders up to `IMAGE_CONCURRENCY` images at once until `shutdown`; then closes the pool.
    /// Fails when one of those tasks ends on its own or with an error.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let Self {
            config,
            pool,
            blobs,
            stats,
            operations,
        } = self;
        let mut tasks = operations.start(&stats, config.status_every, &shutdown);
        let sweep = Sweep {
            pool: pool.clone(),
            blobs: blobs.clone(),
            every: config.upload_sweep_every,
            abandoned_after: config.upload_abandoned_after,
        };
        tasks.spawn("upload sweep", sweep.run(shutdown.clone()));
        let limits = Limits {
            max_pixels: config.image_max_pixels,
            ..Limits::default()
        };
        let worker = ImageConsumer {
            handler: Arc::new(ImageWorker {
                store: ProductStore::new(
                    pool.clone(),
                    50,
                    Schema::new(config.default_locale.clone()),
                ),
                blobs,
                limits,
                cpu: Arc::new(Semaphore::new(config.image_concurrency)),
                stats: Arc::clone(&stats),
            }),
            topology: Topology::new(&config.namespace),
            placement: Default::default(),
            stats,
            concurrency: config.image_concurrency,
        };
        // Prefetch a little beyond what is being rendered, so the next image is at hand.
        let prefetch = (config.image_concurrency * 2).min(u16::MAX as usize) as u16;
        tasks.spawn("consumer", async move {
            worker
                .run(config.amqp_url.expose(), prefetch, &shutdown)
                .await;
        });
        stop(tasks, pool, "image worker").await
    }
}

/// `projector webhooks`: the webhook dispatcher.
pub struct WebhooksProcess {
    pool: PgPool,
    client: reqwest::Client,
    settings: crate::webhooks::Settings,
    operations: Operations,
}

impl WebhooksProcess {
    /// Creates the (lazy) pool and the HTTP client and binds the listener; nothing is delivered
    /// yet. Fails when the client cannot be built or the port is taken.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // Beyond the usual share: one connection is held by LISTEN for good, and the leader's
        // loop queries beside its delivery tasks (which hold one only between requests).
        let pool = catalog_support::db::pool(config.database_url.expose(), POOL_SIZE + 2)?;
        let client = crate::webhooks::client(&config.webhooks)
            .context("building the webhook HTTP client")?;
        // Subscriptions, checkpoints and the feed are all in PostgreSQL; receivers are not
        // dependencies: one down is that subscription's failure, not the process's.
        let dependencies = vec![Dependency::postgres(pool.clone())];
        let operations = Operations::bind(config.webhook_http_addr, dependencies).await?;
        Ok(Self {
            pool,
            client,
            settings: config.webhooks,
            operations,
        })
    }

    /// Serves `/health/*` and `/metrics` and, while it holds the dispatcher's lock, delivers
    /// until `shutdown`; requests in flight then finish (each within `WEBHOOK_TIMEOUT_SECS`)
    /// and their outcomes are recorded before the pool closes.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let Self {
            pool,
            client,
            settings,
            operations,
        } = self;
        let mut tasks = operations.serve(&shutdown);
        tasks.spawn(
            "webhook dispatcher",
            crate::webhooks::run(pool.clone(), client, settings, shutdown.clone()),
        );
        stop(tasks, pool, "webhook dispatcher").await
    }
}
