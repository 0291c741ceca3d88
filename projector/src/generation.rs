//! Brings this release's read-model generation live beside the running one (see
//! [`catalog_read_model::generation`]): declare its queues, replay the event store into its
//! tables and documents, let its consumer catch up, then switch query-api over. Every
//! projector process runs this; one builds (under an advisory lock) and the first to see the
//! generation caught up switches it, once.

use std::time::Duration;

use anyhow::Context;
use catalog_domain::Schema;
use catalog_read_model::generation::{self, GENERATION};
use catalog_read_model::redis::RedisReadModel;
use catalog_store::broker::{self, Topology, PROJECTOR};
use catalog_support::config::RedisSettings;
use catalog_support::shutdown::Shutdown;
use sqlx::PgPool;

use crate::rebuild::{rebuild, Target};

/// A generation is caught up when no event older than this waits to be applied to it: the
/// lag it would have in normal running.
const CAUGHT_UP_WITHIN: Duration = Duration::from_secs(1);

/// How often the generation's progress is checked until it is live.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The longest wait between attempts that failed.
const RETRY_AT_MOST: Duration = Duration::from_secs(10);

/// What bringing the generation live needs: the projector's own connections.
pub struct Upgrade {
    /// Connections whose tables are this generation's.
    pub pool: PgPool,
    /// This generation's documents.
    pub redis: RedisReadModel,
    /// How stored events are read.
    pub schema: Schema,
    /// Where this generation's queues are declared before the replay reads the store.
    pub topology: Topology,
    /// The broker.
    pub amqp_url: String,
}

/// Where a generation stands, as this process last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Built, its consumer not yet caught up.
    CatchingUp,
    /// Live (or already replaced by a newer one): nothing left to do.
    Live,
}

impl Upgrade {
    /// Runs until the generation is live, retrying after failures (a dependency away), then
    /// waits for `shutdown`: a supervised task must not end on its own.
    pub async fn run(self, shutdown: Shutdown) {
        let mut failing = CHECK_EVERY;
        loop {
            let wait = match self.step().await {
                Ok(Progress::Live) => break,
                Ok(Progress::CatchingUp) => {
                    failing = CHECK_EVERY;
                    CHECK_EVERY
                }
                Err(err) => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        generation = GENERATION,
                        retry_in = ?failing,
                        "read-model generation not live yet"
                    );
                    // A dependency away, or the migrations not run yet: back off.
                    let wait = failing;
                    failing = (failing * 2).min(RETRY_AT_MOST);
                    wait
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.wait() => return,
            }
        }
        shutdown.wait().await;
    }

    /// One step towards live: build when nobody has, switch when caught up.
    pub async fn step(&self) -> anyhow::Result<Progress> {
        let state = generation::state(&self.pool, GENERATION).await?;
        match state.as_deref() {
            None => anyhow::bail!(
                "read-model generation {GENERATION} is not declared: run the migrations"
            ),
            Some("building") => self.build().await?,
            Some("built") => {}
            Some(_) => return Ok(Progress::Live),
        }
        let through = generation::built_through(&self.pool, GENERATION)
            .await?
            .unwrap_or_default();
        let (behind, oldest) =
            catalog_read_model::postgres::behind_since(&self.pool, through).await?;
        let caught_up = oldest.is_none_or(|oldest| {
            chrono::Utc::now() - oldest
                < chrono::Duration::from_std(CAUGHT_UP_WITHIN).expect("a second fits")
        });
        if !caught_up {
            tracing::debug!(behind, "read-model generation catching up");
            return Ok(Progress::CatchingUp);
        }
        if generation::go_live(&self.pool, GENERATION).await? {
            tracing::info!(
                generation = GENERATION,
                "read-model generation live: query-api reads it from now on"
            );
        }
        Ok(Progress::Live)
    }

    /// Replays the event store into the generation, once across processes. Its queues are
    /// declared first, so every event stored after the replay's snapshot reaches its consumer.
    async fn build(&self) -> anyhow::Result<()> {
        let mut lock = self.pool.begin().await?;
        // Held until this transaction ends: a process that dies mid-build releases it.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('catalog_read_model_build'))")
            .execute(&mut *lock)
            .await?;
        if generation::state(&mut *lock, GENERATION).await?.as_deref() != Some("building") {
            return Ok(());
        }
        let connection = broker::connect(&self.amqp_url)
            .await
            .context("connecting to RabbitMQ")?;
        let channel = connection.create_channel().await?;
        self.topology.declare_consumer(&channel, &PROJECTOR).await?;
        let _ = connection.close(0, "declared".into()).await;
        tracing::info!(
            generation = GENERATION,
            "building the read-model generation from the event store"
        );
        let (pool, redis, schema) = (self.pool.clone(), self.redis.clone(), self.schema.clone());
        // The replay's callbacks are async closures, whose futures the compiler cannot prove
        // `Send`: the replay runs on a blocking thread of its own, driven by this runtime, so
        // the task that waits for it can run on any worker.
        let rebuilt = tokio::task::spawn_blocking(move || {
            tokio::runtime::Handle::current().block_on(rebuild(
                &pool,
                &redis,
                &schema,
                Target::All,
                false,
            ))
        })
        .await
        .context("the replay task failed")??;
        generation::mark_built(&mut lock, GENERATION, rebuilt.through).await?;
        lock.commit().await?;
        tracing::info!(
            generation = GENERATION,
            products = rebuilt.products,
            events = rebuilt.events,
            elapsed_ms = rebuilt.elapsed.as_millis() as u64,
            "read-model generation built; catching up"
        );
        Ok(())
    }
}

/// `projector retire`: drops what older generations left once a newer one is live (their
/// tables, documents and queues). Run it when no process of the previous release still reads
/// or writes them. Answers the generations dropped.
pub async fn retire(
    pool: &PgPool,
    redis_settings: &RedisSettings,
    namespace: &str,
    topology: &Topology,
    amqp_url: &str,
) -> anyhow::Result<Vec<i32>> {
    let retiring = generation::retiring(pool).await?;
    if retiring.is_empty() {
        return Ok(retiring);
    }
    let connection = broker::connect(amqp_url)
        .await
        .context("connecting to RabbitMQ")?;
    let channel = connection.create_channel().await?;
    for &old in &retiring {
        let redis = RedisReadModel::connect(redis_settings, namespace).await?;
        redis.follow(old);
        let deleted = redis.delete_all().await?;
        topology
            .delete_consumer(&channel, &broker::projector_of(old))
            .await?;
        generation::drop_tables(pool, old).await?;
        tracing::info!(
            generation = old,
            documents = deleted,
            "retired read-model generation"
        );
    }
    let _ = connection.close(0, "retired".into()).await;
    Ok(retiring)
}
