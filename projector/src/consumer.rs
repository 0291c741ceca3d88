//! Consumes `<ns>.projector`: every message ends in exactly one outcome — ack, retry later
//! through a delay queue, or dead-letter — decided in `settle`, and a panic while applying one
//! message is caught and becomes a retry instead of taking the consumer down.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use catalog_support::amqp::{
    self, Topology, WireEvent, ATTEMPT_HEADER, FAILURE_HEADER, MAX_ATTEMPTS, PROJECTOR,
};
use catalog_support::shutdown::Shutdown;
use chrono::Utc;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use tracing::Instrument;

use crate::error::ApplyError;
use crate::postgres::{Applied, PgReadModel, StoredEvent};
use catalog_support::redis_model::RedisReadModel;

enum Outcome {
    Ack,
    /// Try again after a delay. `counted` failures lead to the dead-letter queue after
    /// MAX_ATTEMPTS; an unavailable dependency is retried for as long as it takes.
    Retry {
        reason: String,
        counted: bool,
    },
    DeadLetter(String),
}

/// Running totals for the status line.
#[derive(Default)]
pub struct Stats {
    pub applied: AtomicU64,
    pub skipped: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub last_lag_ms: AtomicU64,
    pub last_position: AtomicU64,
}

pub struct Projector {
    pub postgres: PgReadModel,
    pub redis: RedisReadModel,
    pub topology: Topology,
    pub stats: Arc<Stats>,
}

impl Projector {
    /// Consumes until shutdown, reconnecting with backoff after any broker failure.
    pub async fn run(&self, amqp_url: &str, prefetch: u16, shutdown: &Shutdown) {
        let mut delay = Duration::from_millis(200);
        while !shutdown.is_triggered() {
            let started = Instant::now();
            match self.consume(amqp_url, prefetch, shutdown).await {
                Ok(()) => return,
                Err(err) => {
                    if started.elapsed() > Duration::from_secs(30) {
                        delay = Duration::from_millis(200);
                    }
                    tracing::warn!(error = format!("{err:#}"), retry_in = ?delay, "consumer stopped; reconnecting");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.wait() => return,
                    }
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    async fn consume(
        &self,
        amqp_url: &str,
        prefetch: u16,
        shutdown: &Shutdown,
    ) -> anyhow::Result<()> {
        let connection = amqp::connect(amqp_url)
            .await
            .context("connecting to RabbitMQ")?;
        let channel = connection.create_channel().await?;
        self.topology.declare_consumer(&channel, &PROJECTOR).await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        // Retries and dead letters are published on their own confirmed channel before the
        // original is acked, so a message is never lost between the two.
        let republish = connection.create_channel().await?;
        republish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                self.topology.queue(&PROJECTOR).as_str().into(),
                format!("projector-{}", std::process::id()).as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue = %self.topology.queue(&PROJECTOR), "projector consuming");
        loop {
            tokio::select! {
                delivery = consumer.next() => {
                    let Some(delivery) = delivery else {
                        anyhow::bail!("the broker cancelled the consumer");
                    };
                    let delivery = delivery?;
                    let outcome = self.process(&delivery).await;
                    self.settle(&republish, delivery, outcome).await?;
                }
                () = shutdown.wait() => {
                    // Unacked deliveries return to the queue when the channel closes.
                    let _ = connection.close(200, "shutdown".into()).await;
                    return Ok(());
                }
            }
        }
    }

    async fn process(&self, delivery: &Delivery) -> Outcome {
        let event: WireEvent = match serde_json::from_slice(&delivery.data) {
            Ok(event) => event,
            Err(err) => return Outcome::DeadLetter(format!("undecodable message: {err}")),
        };
        if event.aggregate_type != "Product" {
            return Outcome::Ack;
        }
        let span = tracing::info_span!(
            "event",
            event_id = %event.event_id,
            event_type = %event.event_type,
            product_id = %event.aggregate_id,
            sequence = event.sequence,
            correlation_id = event.metadata("correlation_id"),
            causation_id = event.metadata("causation_id"),
            request_id = event.metadata("request_id"),
        );
        let applied = AssertUnwindSafe(self.apply(&event).instrument(span.clone()))
            .catch_unwind()
            .await;
        let _entered = span.enter();
        match applied {
            Ok(Ok(())) => {
                let lag = (Utc::now() - event.recorded_at).num_milliseconds().max(0) as u64;
                metrics::histogram!("catalog_projection_lag_seconds").record(lag as f64 / 1000.0);
                metrics::gauge!("catalog_projection_last_position").set(event.position as f64);
                self.stats.last_lag_ms.store(lag, Ordering::Relaxed);
                self.stats
                    .last_position
                    .store(event.position as u64, Ordering::Relaxed);
                Outcome::Ack
            }
            Ok(Err(ApplyError::Permanent(err))) => Outcome::DeadLetter(format!("{err:#}")),
            Ok(Err(ApplyError::Transient(err))) => Outcome::Retry {
                reason: format!("{err:#}"),
                counted: false,
            },
            Err(_) => Outcome::Retry {
                reason: "the projection panicked".to_string(),
                counted: true,
            },
        }
    }

    /// Applies to PostgreSQL, then mirrors the resulting view into Redis. Redis is written
    /// even when PostgreSQL already had the event: a redelivery after a Redis failure must
    /// still bring Redis up to date.
    async fn apply(&self, event: &WireEvent) -> Result<(), ApplyError> {
        let stored = StoredEvent {
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            payload: event.payload.clone(),
            recorded_at: event.recorded_at,
        };
        let view = match self.postgres.apply(&event.aggregate_id, stored).await? {
            Applied::Applied(view) => {
                self.stats.applied.fetch_add(1, Ordering::Relaxed);
                Some(view)
            }
            Applied::Skipped(view) => {
                self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("already applied");
                view
            }
        };
        if let Some(view) = view {
            self.redis
                .put(&view)
                .await
                .map_err(|e| ApplyError::Transient(anyhow::Error::new(e).context("Redis")))?;
        }
        Ok(())
    }

    async fn settle(
        &self,
        republish: &Channel,
        delivery: Delivery,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        let attempt = attempt_of(&delivery) + 1;
        let target = match outcome {
            Outcome::Ack => None,
            Outcome::Retry { reason, counted } if !counted || attempt <= MAX_ATTEMPTS => {
                tracing::warn!(attempt, reason, "retrying later");
                metrics::counter!("catalog_projector_retries_total").increment(1);
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                let attempt = if counted {
                    attempt
                } else {
                    attempt.min(MAX_ATTEMPTS)
                };
                Some((
                    self.topology.retry_queue_for(&PROJECTOR, attempt),
                    attempt,
                    None,
                ))
            }
            Outcome::Retry { reason, .. } | Outcome::DeadLetter(reason) => {
                tracing::error!(attempt, reason, "dead-lettering message");
                metrics::counter!("catalog_projector_dead_letters_total").increment(1);
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                Some((self.topology.dead_queue(&PROJECTOR), attempt, Some(reason)))
            }
        };
        if let Some((queue, attempt, failure)) = target {
            let properties = with_headers(delivery.properties.clone(), attempt, failure);
            let confirm = republish
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &delivery.data,
                    properties,
                )
                .await?
                .await?;
            if let Confirmation::Nack(_) = confirm {
                anyhow::bail!("the broker refused a republished message");
            }
        }
        delivery.ack(BasicAckOptions::default()).await?;
        Ok(())
    }
}

fn attempt_of(delivery: &Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER))
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => Some(*n as u32),
            AMQPValue::LongInt(n) => Some(*n as u32),
            _ => None,
        })
        .unwrap_or(0)
}

fn with_headers(
    properties: BasicProperties,
    attempt: u32,
    failure: Option<String>,
) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(
        ShortString::from(ATTEMPT_HEADER),
        AMQPValue::LongLongInt(attempt as i64),
    );
    if let Some(failure) = failure {
        headers.insert(
            ShortString::from(FAILURE_HEADER),
            AMQPValue::LongString(LongString::from(failure.as_str())),
        );
    }
    properties.with_headers(headers)
}

/// Logs the projector's progress every `every`: events applied per second and the lag.
pub async fn report_status(stats: Arc<Stats>, every: Duration, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    let mut last_applied = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.wait() => return,
        }
        let applied = stats.applied.load(Ordering::Relaxed);
        let rate = (applied - last_applied) as f64 / every.as_secs_f64();
        last_applied = applied;
        tracing::info!(
            applied,
            skipped = stats.skipped.load(Ordering::Relaxed),
            retried = stats.retried.load(Ordering::Relaxed),
            dead_lettered = stats.dead_lettered.load(Ordering::Relaxed),
            events_per_sec = format!("{rate:.1}"),
            lag_ms = stats.last_lag_ms.load(Ordering::Relaxed),
            position = stats.last_position.load(Ordering::Relaxed),
            "projector status"
        );
    }
}
