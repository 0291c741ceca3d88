//! The outbox relay: publishes every stored event to RabbitMQ, in order, at least once; a
//! product's consecutive events as one message (see [`crate::broker::messages`]).
//!
//! The events table is the outbox. The relay reads it past its checkpoint in
//! (transaction_id, position) order, only below the oldest transaction still running
//! (`pg_snapshot_xmin`), so it never passes an event whose transaction commits late (see
//! migrations/…_relay.sql). It publishes with publisher confirms and advances the checkpoint
//! only over rounds the broker confirmed, in order: a crash in between publishes them again,
//! and consumers are idempotent. A few rounds are kept in flight (`RELAY_ROUNDS_IN_FLIGHT`):
//! waiting for each round's confirms before reading the next put a broker round trip, and a
//! disk write for quorum queues, in front of every event committed meanwhile. LISTEN/NOTIFY
//! wakes it at once; polling is the fallback.
//! One relay is active per namespace: the holder of a PostgreSQL advisory lock.

use std::time::{Duration, Instant};

use crate::broker::{self, Topology, WireEvent, CONSUMERS};
use anyhow::Context;
use catalog_support::health::Link;
use catalog_support::shutdown::Shutdown;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use lapin::options::ConfirmSelectOptions;
use lapin::{Confirmation, PublisherConfirm};
use sqlx::postgres::PgPool;
use sqlx::PgConnection;

/// How one relay runs; see [`run`].
#[derive(Clone)]
pub struct RelayConfig {
    /// URL of the RabbitMQ broker to publish to.
    pub amqp_url: String,
    /// The deployment's namespace: it names the topology, the relay's checkpoint and its
    /// advisory lock, so one relay is active per namespace.
    pub namespace: String,
    /// Events read and published per round, at most.
    pub batch_size: i64,
    /// How long an idle relay waits for a notification before it looks for events anyway: the
    /// fallback when one is lost, and the cap on the back-off over held-back events.
    pub poll_interval: Duration,
    /// Rounds published and not yet confirmed, at most.
    pub rounds_in_flight: usize,
    /// Work queues of the projector; the same as the projectors' `PROJECTOR_SHARDS`, since the
    /// relay declares their topology.
    pub projector_shards: u16,
    /// Reported to readiness: down while the relay cannot reach RabbitMQ.
    pub link: Link,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
struct Checkpoint {
    transaction_id: i64,
    position: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    event: WireEvent,
    transaction_id: i64,
}

/// Runs the relay until shutdown, reconnecting after any failure with backoff.
pub async fn run(pool: PgPool, config: RelayConfig, shutdown: Shutdown) {
    let mut delay = Duration::from_millis(200);
    while !shutdown.is_triggered() {
        let started = Instant::now();
        match run_once(&pool, &config, &shutdown).await {
            Ok(()) => return,
            Err(err) => {
                config.link.set(false);
                if started.elapsed() > Duration::from_secs(30) {
                    delay = Duration::from_millis(200);
                }
                tracing::warn!(error = format!("{err:#}"), retry_in = ?delay, "relay stopped; restarting");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.wait() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Waits for leadership, then relays until shutdown (Ok) or a failure (Err).
async fn run_once(pool: &PgPool, config: &RelayConfig, shutdown: &Shutdown) -> anyhow::Result<()> {
    let lock_name = format!("catalog-relay:{}", config.namespace);
    // A standby needs no broker: nothing for readiness to report.
    config.link.set(true);
    let Some(mut lock) = crate::leadership::acquire(pool, &lock_name, "relay", shutdown).await?
    else {
        return Ok(());
    };
    // Checkpoints are written on the lock's connection without waiting for the WAL flush: one
    // lost in a crash only means its events are published again, which consumers already
    // take (delivery is at least once), and the relay stops paying a disk flush per batch.
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut lock)
        .await?;

    let mut listener = crate::event_store::listen_for_appends(pool).await?;

    let connection = crate::broker::connect(&config.amqp_url)
        .await
        .context("connecting to RabbitMQ")?;
    let channel = connection.create_channel().await?;
    let topology = Topology::new(&config.namespace).with_shards(config.projector_shards);
    for consumer in CONSUMERS {
        topology.declare_consumer(&channel, &consumer).await?;
    }
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;

    // Where the next round starts: past every published round, confirmed or not.
    let mut fetched = load_checkpoint(pool, &config.namespace).await?;
    let mut in_flight = FuturesOrdered::new();
    let mut last_backlog: Option<Instant> = None;
    let mut recheck = RECHECK_HELD_BACK;
    loop {
        if shutdown.is_triggered() {
            // The rounds in flight are finished first: their confirms are moments away, and
            // saving them spares the next leader publishing them again.
            while let Some(round) = in_flight.next().await {
                save(&mut lock, &config.namespace, round?).await?;
            }
            let _ = connection.close(200, "shutdown".into()).await;
            return Ok(());
        }
        // A broker that went away while the relay idled is noticed here, not at the next event.
        let connected = connection.status().connected();
        config.link.set(connected);
        anyhow::ensure!(connected, "the connection to RabbitMQ was lost");
        let mut held_back = false;
        if in_flight.len() < config.rounds_in_flight {
            let batch;
            (batch, held_back) = fetch(pool, fetched, config.batch_size).await?;
            if last_backlog.is_none_or(|at| at.elapsed() >= BACKLOG_EVERY) {
                let waiting = unpublished(pool, &config.namespace, BACKLOG_CAP).await?;
                metrics::gauge!("catalog_relay_backlog").set(waiting as f64);
                last_backlog = Some(Instant::now());
            }
            if let Some(last) = batch.last() {
                let checkpoint = Checkpoint {
                    transaction_id: last.transaction_id,
                    position: last.event.position,
                };
                let started = Instant::now();
                recheck = RECHECK_HELD_BACK;
                let events: Vec<WireEvent> = batch.into_iter().map(|row| row.event).collect();
                let confirms = publish(&channel, &topology, &events).await?;
                let round = Round {
                    checkpoint,
                    events: events.len(),
                    messages: confirms.len(),
                    started,
                };
                fetched = round.checkpoint;
                in_flight.push_back(confirmed(confirms, round));
                // Rounds the broker confirmed meanwhile are saved before the next one is read.
                while let Some(round) = in_flight.next().now_or_never().flatten() {
                    save(&mut lock, &config.namespace, round?).await?;
                }
                continue;
            }
        }
        if in_flight.is_empty() {
            // Events held back behind an older transaction still running are released when it
            // ends, usually within milliseconds, and no notification says when: look again
            // soon, backing off towards the poll interval while it lasts.
            let wait = if held_back {
                let wait = recheck;
                recheck = (wait * 2).min(config.poll_interval);
                wait
            } else {
                // Idle: everything stored is published and confirmed.
                metrics::gauge!("catalog_relay_backlog").set(0.0);
                recheck = RECHECK_HELD_BACK;
                // Still the leader? A dead lock connection means the lock may be someone
                // else's now. (With work to do, saving the checkpoint on it checks it.)
                sqlx::query("SELECT 1")
                    .execute(&mut lock)
                    .await
                    .context("relay lock connection lost")?;
                config.poll_interval
            };
            tokio::select! {
                notification = listener.recv() => { notification?; }
                () = tokio::time::sleep(wait) => {}
                () = shutdown.wait() => {}
            }
            continue;
        }
        // Confirms are outstanding: the oldest round's, or new events to publish behind it.
        tokio::select! {
            Some(round) = in_flight.next() => {
                save(&mut lock, &config.namespace, round?).await?;
            }
            notification = listener.recv(), if in_flight.len() < config.rounds_in_flight => {
                notification?;
            }
            () = shutdown.wait() => {}
        }
    }
}

/// The first look again at events held back by a running transaction.
const RECHECK_HELD_BACK: Duration = Duration::from_millis(2);

/// One published batch: where the checkpoint moves once all of it is confirmed.
struct Round {
    checkpoint: Checkpoint,
    events: usize,
    messages: usize,
    started: Instant,
}

async fn publish(
    channel: &lapin::Channel,
    topology: &Topology,
    events: &[WireEvent],
) -> anyhow::Result<Vec<PublisherConfirm>> {
    let messages = broker::messages(events);
    let mut confirms = Vec::with_capacity(messages.len());
    for message in messages {
        confirms.push(broker::publish(channel, topology, message, Some(chrono::Utc::now())).await?);
    }
    Ok(confirms)
}

async fn confirmed(confirms: Vec<PublisherConfirm>, round: Round) -> anyhow::Result<Round> {
    for confirm in confirms {
        match confirm.await? {
            Confirmation::Ack(_) | Confirmation::NotRequested => {}
            Confirmation::Nack(_) => anyhow::bail!("the broker refused a published message"),
        }
    }
    Ok(round)
}

/// Moves the checkpoint over a confirmed round.
async fn save(lock: &mut PgConnection, namespace: &str, round: Round) -> anyhow::Result<()> {
    save_checkpoint(lock, namespace, round.checkpoint)
        .await
        .context("relay lock connection lost")?;
    metrics::counter!("catalog_relay_published_total").increment(round.events as u64);
    metrics::counter!("catalog_relay_messages_total").increment(round.messages as u64);
    metrics::histogram!("catalog_relay_publish_seconds")
        .record(round.started.elapsed().as_secs_f64());
    tracing::debug!(
        events = round.events,
        messages = round.messages,
        position = round.checkpoint.position,
        "published"
    );
    Ok(())
}

/// The next events past `after` that are safe to publish, and, when there are none, whether
/// some are stored but held back behind an older transaction still running.
// xid8 travels as text and is compared in SQL: sqlx has no xid8 type, and a 64-bit xid fits i64.
async fn fetch(pool: &PgPool, after: Checkpoint, limit: i64) -> sqlx::Result<(Vec<Row>, bool)> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT event_id, position, transaction_id::text::bigint AS transaction_id, \
                aggregate_type, aggregate_id, sequence, event_type, event_version, \
                payload, metadata, recorded_at \
         FROM events \
         WHERE (transaction_id, position) > ($1::text::xid8, $2) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY transaction_id, position \
         LIMIT $3",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.position)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    if !rows.is_empty() {
        return Ok((rows, false));
    }
    // One index probe, and only when nothing could be taken: under load the held-back events
    // are many, and reading them only to leave them would cost more than the probe. Written as
    // the first row in index order rather than `EXISTS`: PostgreSQL has no statistics to
    // estimate a row comparison on xid8 by, guesses that a third of the store matches, and for
    // `EXISTS` scans the whole table expecting an early hit. With nothing held back, which is
    // every idle poll, that was a full scan of the store each time.
    let held_back = sqlx::query(
        "SELECT 1 FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2) \
         ORDER BY transaction_id, position LIMIT 1",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.position)
    .fetch_optional(pool)
    .await?
    .is_some();
    Ok((rows, held_back))
}

/// Events the relay named `name` has not published yet (held back behind a running
/// transaction included), counted up to `cap`, as its saved checkpoint says: the relay's own
/// gauge and the pipeline's status. Without a checkpoint the relay has not started, and
/// everything is backlog.
pub async fn unpublished(pool: &PgPool, name: &str, cap: i64) -> sqlx::Result<i64> {
    // The checkpoint is read first, as one row, so that the comparison is an index range (see
    // `fetch` on why the index order is spelled out); joined instead, it was a scan of the store.
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM events e \
           WHERE (e.transaction_id, e.position) > \
                 (SELECT coalesce(max(c.transaction_id), '0'::xid8), coalesce(max(c.position), 0) \
                    FROM relay_checkpoints c WHERE c.name = $1) \
           ORDER BY e.transaction_id, e.position LIMIT $2) b",
    )
    .bind(name)
    .bind(cap)
    .fetch_one(pool)
    .await
}

async fn load_checkpoint(pool: &PgPool, name: &str) -> sqlx::Result<Checkpoint> {
    sqlx::query("INSERT INTO relay_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(name)
        .execute(pool)
        .await?;
    sqlx::query_as(
        "SELECT transaction_id::text::bigint AS transaction_id, position \
         FROM relay_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_one(pool)
    .await
}

/// Counting the backlog reads what is unpublished: under load, once a second is plenty.
const BACKLOG_EVERY: Duration = Duration::from_secs(1);
/// The backlog is counted up to this many events: past it, a count costs more than it tells.
pub const BACKLOG_CAP: i64 = 100_000;

async fn save_checkpoint(lock: &mut PgConnection, name: &str, at: Checkpoint) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE relay_checkpoints SET transaction_id = $2::text::xid8, position = $3, \
         updated_at = now() WHERE name = $1",
    )
    .bind(name)
    .bind(at.transaction_id.to_string())
    .bind(at.position)
    .execute(lock)
    .await
    .map(|_| ())
}
