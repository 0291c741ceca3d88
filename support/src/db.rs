//! The PostgreSQL pool, the embedded migrations, and how to tell "the database is down"
//! (retry later, 503) from every other database error.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// Every migration of the workspace, embedded in the binary so a service can migrate on start.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Connects a pool lazily: a service starts even while PostgreSQL is down and answers 503
/// until it returns. `acquire_timeout` bounds how long a request waits for a connection before
/// it is told the database is unavailable instead of hanging.
pub fn pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options.application_name("catalog")))
}

/// A second pool on `pool`'s database whose commits do not wait for their WAL flush
/// (`synchronous_commit = off`), for records that only matter once a later durable commit of
/// the same process has made them matter. PostgreSQL's WAL is one sequence: a durable commit
/// flushes every record before it, so a record committed here before an event is appended is
/// on disk once that append is; one committed after an append, if a crash loses it, is found
/// missing and rebuilt from the event (the idempotency records' recovery). The commit still
/// takes a round trip, but no disk flush of its own.
pub fn unflushed(pool: &PgPool, max_connections: u32) -> PgPool {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .options([("synchronous_commit", "off")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options)
}

/// True when the error means "the database cannot be reached right now", which a client should
/// retry, as opposed to a bug or a refused statement.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
            // A connection cut mid-handshake or mid-message (by a proxy, a failover, a
            // restart) reads as a malformed reply: the network's fault, not the statement's.
            | sqlx::Error::Protocol(_)
    ) || matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| {
        // connection_exception (class 08), admin_shutdown, crash_shutdown,
        // cannot_connect_now, too_many_connections
        c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
    }))
}

/// Walks an error's chain looking for an unavailable database, for errors that wrap sqlx's.
pub fn chain_is_unavailable(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(sqlx_err) = e.downcast_ref::<sqlx::Error>() {
            return is_unavailable(sqlx_err);
        }
        current = e.source();
    }
    false
}

/// Applies pending migrations. Concurrent callers (several replicas starting at once) are
/// serialised by sqlx's advisory lock. While PostgreSQL is not up yet, retries with backoff.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(200);
    for attempt in 1.. {
        match MIGRATOR.run(pool).await {
            Ok(()) => return Ok(()),
            Err(sqlx::migrate::MigrateError::Execute(err))
                if is_unavailable(&err) && attempt < 10 =>
            {
                tracing::warn!(error = %err, attempt, "database not reachable yet, retrying migrations");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(err) => return Err(anyhow::Error::new(err).context("migrations failed")),
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_connection_is_unavailable_and_a_refused_statement_is_not() {
        // What sqlx reports when the server's side of a new connection closes at once.
        let cut = sqlx::Error::Protocol("unexpected response from SSLRequest: 0x00".into());
        assert!(is_unavailable(&cut));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("x".into())));
    }

    #[sqlx::test(migrations = false)]
    async fn the_unflushed_pool_commits_without_waiting_for_the_flush_and_the_other_waits(
        pool: PgPool,
    ) {
        let setting = |pool: PgPool| async move {
            sqlx::query_scalar::<_, String>("SHOW synchronous_commit")
                .fetch_one(&pool)
                .await
                .unwrap()
        };
        assert_eq!(setting(unflushed(&pool, 2)).await, "off");
        assert_eq!(setting(pool).await, "on");
    }
}
