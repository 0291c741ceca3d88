//! One active process among replicas, by a PostgreSQL advisory lock: the outbox relay (one per
//! namespace) and the webhook dispatcher (one per database) each run in every replica, and only
//! the holder of their lock works while the others stand by.
//!
//! The lock is held on a connection of its own, for as long as that connection lives: if the
//! process dies, PostgreSQL ends its session, releases the lock, and a standby takes over at
//! its next try. The holder keeps the connection (its work can use it, and checking it tells
//! the holder whether it still leads).

use std::time::Duration;

use anyhow::Context;
use catalog_support::shutdown::Shutdown;
use sqlx::{Connection, PgConnection, PgPool};

/// How long the lock's connection may take to open: a database that does not answer must
/// not keep a shutdown waiting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a standby tries the lock again.
const STANDBY_RETRY: Duration = Duration::from_secs(2);

/// Waits until this process holds the advisory lock `name` and answers the connection that
/// holds it, or `None` at shutdown. `role` names the process in its log lines.
pub async fn acquire(
    pool: &PgPool,
    name: &str,
    role: &str,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<PgConnection>> {
    let mut lock = connect(pool, role).await?;
    let mut announced = false;
    loop {
        if locked(&mut lock, name, role).await? {
            tracing::info!(lock = name, "{role} active");
            return Ok(Some(lock));
        }
        if !announced {
            tracing::info!(lock = name, "another {role} is active; standing by");
            announced = true;
        }
        tokio::select! {
            () = tokio::time::sleep(STANDBY_RETRY) => {}
            () = shutdown.wait() => return Ok(None),
        }
    }
}

/// Takes the advisory lock `name` if no one holds it, answering the connection that holds it;
/// `None` when another session does. For work items (an import job) rather than a role: the
/// caller moves on to the next one instead of standing by.
pub async fn try_acquire(
    pool: &PgPool,
    name: &str,
    role: &str,
) -> anyhow::Result<Option<PgConnection>> {
    let mut lock = connect(pool, role).await?;
    Ok(locked(&mut lock, name, role).await?.then_some(lock))
}

async fn connect(pool: &PgPool, role: &str) -> anyhow::Result<PgConnection> {
    let options = pool.connect_options();
    tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .with_context(|| format!("{role} lock connection timed out"))?
        .with_context(|| format!("{role} lock connection"))
}

async fn locked(lock: &mut PgConnection, name: &str, role: &str) -> anyhow::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(name)
        .fetch_one(lock)
        .await
        .with_context(|| format!("{role} lock connection"))
}
