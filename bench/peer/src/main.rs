//! `catalog-bench-peer`: Catalog's stock-adjustment commands written the way the cqrs-es book
//! and postgres-es's README show — an `Aggregate`, `postgres_es::postgres_cqrs` over the
//! `events` table of postgres-es's sample DDL, one `execute_with_metadata` per request — for
//! bench/run's row 2d. What a team gets out of the box: no hash chain, no idempotency keys, no
//! outbox, no read side.
//!
//!   catalog-bench-peer init     creates postgres-es's tables in `DATABASE_URL`
//!   catalog-bench-peer serve    serves the commands on `--addr` / `PEER_ADDR`

mod http;
mod product;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sqlx::postgres::PgPoolOptions;

/// postgres-es's sample configuration (`db/init.sql` in its repository): the `events` table
/// and the `snapshots` table, needed only by its snapshot store, created all the same. `IF NOT
/// EXISTS` is the only change, so that `init` can run twice.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE IF NOT EXISTS snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);
";

#[derive(Parser)]
#[command(about = "A cqrs-es + postgres-es service taking Catalog's product commands (bench/)")]
struct Cli {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates postgres-es's `events` and `snapshots` tables.
    Init,
    /// Serves the commands until SIGTERM or Ctrl-C.
    Serve {
        #[arg(long, env = "PEER_ADDR", default_value = "127.0.0.1:8095")]
        addr: String,
        /// Pool size: command-api's default. postgres-es's `default_postgress_pool`, which its
        /// README uses, caps it at 10 and panics when the database is not up yet.
        #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
        max_connections: u32,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init => init(&cli.database_url).await,
        Command::Serve {
            addr,
            max_connections,
        } => serve(&cli.database_url, &addr, max_connections).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("catalog-bench-peer: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn init(database_url: &str) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    sqlx::raw_sql(TABLES)
        .execute(&pool)
        .await
        .context("creating the tables")?;
    Ok(())
}

async fn serve(database_url: &str, addr: &str, max_connections: u32) -> anyhow::Result<()> {
    // Lazy: the service starts before the database answers; /health/ready says when it does.
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_lazy(database_url)
        .context("parsing DATABASE_URL")?;
    let committed = Arc::new(http::Committed::default());
    // The plain event store (`postgres_cqrs`), as postgres-es's README and the cqrs-es demo
    // configure it: every command loads all of its product's events.
    let cqrs = postgres_es::postgres_cqrs(
        pool.clone(),
        vec![Box::new(http::VersionQuery(committed.clone()))],
        (),
    );
    let state = http::AppState {
        cqrs: Arc::new(cqrs),
        committed,
        pool,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    eprintln!(
        "catalog-bench-peer: listening on {}",
        listener.local_addr()?
    );
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(stopped())
        .await?;
    Ok(())
}

async fn stopped() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
