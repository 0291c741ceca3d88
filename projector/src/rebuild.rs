//! `projector rebuild`: drops the read models and replays them from the event store while the
//! system runs; also how a new read-model generation is first filled (see [`crate::generation`]).
//!
//! The PostgreSQL model is rebuilt in one transaction that first takes an EXCLUSIVE lock on
//! `product_view`: readers keep reading the old rows until the commit, and the live consumer
//! waits at its next write. The events are read after the lock is held, so every event the live
//! consumer had applied before is in the replay, and every event after it is applied by the
//! consumer once the lock is released (its version check skips what the rebuild wrote). Nothing
//! is lost and nothing is applied twice. (The events are read on a second connection, in a
//! snapshot taken once the lock is held, which keeps that order.)

use catalog_domain::Schema;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use catalog_read_model::error::ApplyError;
use catalog_read_model::postgres::{write_views, Folded};
use catalog_read_model::redis::RedisReadModel;

/// Which read models `rebuild` drops and replays (`--target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Only the PostgreSQL read model (`product_view` and `product_image_view`).
    Postgres,
    /// Only the namespace's product documents in Redis.
    Redis,
    /// Both (the default).
    All,
}

/// What a rebuild replayed, for its summary line.
#[derive(Debug)]
pub struct Rebuilt {
    /// Events replayed.
    pub events: u64,
    /// Products written, one view each.
    pub products: u64,
    /// From the start of the rebuild to its commit.
    pub elapsed: Duration,
    /// The position of the last event replayed: the live consumer applies those after it.
    pub through: i64,
}

impl Rebuilt {
    /// Replay throughput.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Views are written this many at a time: one multi-row statement (PostgreSQL) or one
/// pipeline (Redis) each.
const BATCH: usize = 1000;

/// Clears `target` and replays every product's events into it, in one transaction for
/// PostgreSQL (see the module's doc for why the live consumer may keep running); `progress`
/// draws a progress bar on the terminal.
pub async fn rebuild(
    pool: &PgPool,
    redis: &RedisReadModel,
    schema: &Schema,
    target: Target,
    progress: bool,
) -> Result<Rebuilt, ApplyError> {
    let started = Instant::now();
    let postgres = matches!(target, Target::Postgres | Target::All);
    let to_redis = matches!(target, Target::Redis | Target::All);

    let mut tx = pool.begin().await?;
    if postgres {
        catalog_read_model::postgres::clear_for_rebuild(&mut tx).await?;
    }
    if to_redis {
        let deleted = redis.delete_all().await.map_err(redis_error)?;
        tracing::info!(deleted, "Redis read model cleared");
    }
    // The events are read on a connection of their own, so that reading the next ones overlaps
    // writing the last; its snapshot is taken after the lock is held, as the replay needs.
    let mut source = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *source)
        .await?;
    let (total, through) = catalog_store::log::count(&mut source).await?;
    let bar = if progress {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} rebuilding [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );

    let mut batch: Vec<Folded> = Vec::with_capacity(BATCH);
    let mut products = 0u64;
    let flush =
        async |conn: &mut sqlx::PgConnection, batch: &mut Vec<Folded>| -> Result<(), ApplyError> {
            let views: Vec<_> = if to_redis {
                batch.iter().map(|f| f.view.clone()).collect()
            } else {
                Vec::new()
            };
            let write_postgres = async {
                if postgres {
                    write_views(conn, batch).await?;
                }
                Ok::<_, ApplyError>(())
            };
            let write_redis = async {
                if to_redis {
                    redis.put_many(&views).await.map_err(redis_error)?;
                }
                Ok(())
            };
            futures::future::try_join(write_postgres, write_redis).await?;
            batch.clear();
            Ok(())
        };
    let events = catalog_read_model::replay::each_product(
        &mut source,
        schema,
        async |folded| {
            products += 1;
            batch.push(folded);
            if batch.len() >= BATCH {
                flush(&mut tx, &mut batch).await?;
            }
            Ok(())
        },
        |n| bar.inc(n),
    )
    .await?;
    flush(&mut tx, &mut batch).await?;
    source.commit().await?;
    tx.commit().await?;
    bar.finish_and_clear();
    Ok(Rebuilt {
        events,
        products,
        elapsed: started.elapsed(),
        through,
    })
}

fn redis_error(err: redis::RedisError) -> ApplyError {
    ApplyError::Transient(anyhow::Error::new(err).context("Redis"))
}
