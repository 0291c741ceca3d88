//! query-api reads the live read-model generation (see [`catalog_read_model::generation`]).
//! PostgreSQL reads go through the views of schema `read_model`, which the switch repoints in
//! its own transaction; Redis reads follow here, on the switch's notification or the periodic
//! check that covers a lost one. Until the live generation is known, Redis is skipped.

use std::sync::Arc;
use std::time::Duration;

use catalog_read_model::generation::{self, SWITCHED};
use catalog_read_model::redis::RedisReadModel;
use catalog_support::shutdown::Shutdown;
use sqlx::postgres::{PgListener, PgPool};

use crate::local_cache::LocalCache;

/// How often the live generation is read when no notification arrives.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Keeps `redis` on the live generation until shutdown. A switch empties `local`, which holds
/// documents of the generation switched from.
pub async fn follow_live(
    pool: PgPool,
    redis: RedisReadModel,
    local: Arc<LocalCache>,
    shutdown: Shutdown,
) {
    let mut listener = None;
    while !shutdown.is_triggered() {
        if listener.is_none() {
            listener = listen(&pool).await;
        }
        follow(&pool, &redis, &local).await;
        let notified = async {
            match listener.as_mut() {
                Some(listener) => listener.recv().await.map(drop),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = notified => {
                if let Err(err) = received {
                    tracing::debug!(error = %err, "read-model switch listener lost");
                    listener = None;
                }
            }
            () = tokio::time::sleep(CHECK_EVERY) => {}
            () = shutdown.wait() => return,
        }
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(SWITCHED).await.ok()?;
    Some(listener)
}

async fn follow(pool: &PgPool, redis: &RedisReadModel, local: &LocalCache) {
    match generation::live(pool).await {
        Ok(Some(live)) if live != redis.generation() => {
            redis.follow(live);
            local.set_live(local.is_live());
            tracing::info!(generation = live, "reading read-model generation");
        }
        Ok(_) => {}
        Err(err) => tracing::debug!(error = %err, "cannot read the live read-model generation"),
    }
}
