//! Redis keeps nothing on disk: after a restart or a flush it is empty, and after a Sentinel
//! failover the promoted replica may lack the old primary's last writes; the projector only
//! writes the products that change from then on. This task notices (the filled marker is gone,
//! or names another master's replication id) and copies every document from the PostgreSQL read
//! model back into Redis, in pages, through the same version-guarded write the projector uses,
//! so a document the projector wrote in the meantime is never replaced by an older one.

use std::time::Duration;

use catalog_read_model::redis::RedisReadModel;
use catalog_support::shutdown::Shutdown;
use sqlx::PgPool;

/// Documents copied per round trip.
const PAGE: i64 = 500;
/// How long one process may hold the refill before another may take it over (if it died).
const LEASE: Duration = Duration::from_secs(120);

/// Checks every `every` whether Redis still holds the read model and refills it when not,
/// until `shutdown`.
pub async fn keep_redis_filled(
    pool: PgPool,
    redis: RedisReadModel,
    every: Duration,
    shutdown: Shutdown,
) {
    shutdown
        .every(every, || refill_if_emptied(&pool, &redis))
        .await;
}

async fn refill_if_emptied(pool: &PgPool, redis: &RedisReadModel) {
    // Unreachable Redis: nothing to do until it is back (the consumer reports it).
    let Ok(false) = redis.is_filled().await else {
        return;
    };
    let Ok(true) = redis.begin_refill(LEASE).await else {
        return;
    };
    let started = std::time::Instant::now();
    match refill(pool, redis).await {
        Ok(count) => match redis.end_refill().await {
            Ok(true) => tracing::info!(
                documents = count,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "Redis lacked the read model (new, emptied or failed over); refilled it from the PostgreSQL read model"
            ),
            Ok(false) => {
                tracing::warn!("Redis was emptied or failed over again during its refill; refilling anew");
            }
            Err(err) => tracing::warn!(error = %err, "could not mark Redis as refilled"),
        },
        Err(err) => {
            tracing::warn!(error = %err, "refilling Redis failed; will retry");
            let _ = redis.abandon_refill().await;
        }
    }
}

async fn refill(pool: &PgPool, redis: &RedisReadModel) -> anyhow::Result<usize> {
    let mut after = String::new();
    let mut count = 0;
    loop {
        let views = catalog_read_model::postgres::views_after(pool, &after, PAGE).await?;
        let Some(last) = views.last() else {
            return Ok(count);
        };
        after = last.id.clone();
        redis.put_many(&views).await?;
        count += views.len();
    }
}
