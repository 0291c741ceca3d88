//! Consuming a work queue: every message ends in exactly one outcome — ack, retry later through
//! a delay queue, or dead-letter — decided in `settle`, and a panic while handling one message
//! is caught at the message's boundary and becomes a retry instead of taking the consumer down.
//! What a message means is the [`Handler`]'s business: the read models, or the image worker.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use catalog_store::broker::{
    self, published_at, ConsumerSpec, Topology, WireEvent, ATTEMPT_HEADER, FAILURE_HEADER,
    MAX_ATTEMPTS,
};
use catalog_support::health::Link;
use catalog_support::shutdown::Shutdown;
use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::Semaphore;
use tracing::Instrument;

use catalog_read_model::error::ApplyError;

/// What a consumer does with each event it receives.
pub trait Handler: Send + Sync + 'static {
    /// The queue this handler consumes, and its bindings.
    fn spec(&self) -> ConsumerSpec;

    /// Handles one event. Must be idempotent: delivery is at least once. Only the events
    /// [`ConsumerSpec::wants`] are handed over.
    fn handle(&self, event: &WireEvent) -> impl Future<Output = Result<(), ApplyError>> + Send;

    /// The most messages an ordered consumer hands to `handle_batch` at once; 1 turns batching
    /// off.
    fn batch_limit(&self) -> usize {
        1
    }

    /// Handles consecutive events at once, all or nothing: one transaction and one round trip
    /// instead of one per event. A message carrying several events is handed over this way;
    /// when a batch of messages fails, the consumer handles the same messages one at a time,
    /// so that only a failing one is retried or dead-lettered.
    fn handle_batch(
        &self,
        events: &[WireEvent],
    ) -> impl Future<Output = Result<(), ApplyError>> + Send {
        async move {
            for event in events {
                self.handle(event).await?;
            }
            Ok(())
        }
    }

    /// Called once a message is given up on and moved to the dead-letter queue, so the handler
    /// can record the failure where users see it.
    fn dead_lettered(&self, _event: &WireEvent, _reason: &str) -> impl Future<Output = ()> + Send {
        async {}
    }
}

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
    /// Events the handler applied: written to the read models, or images rendered and recorded
    /// as processed.
    pub applied: AtomicU64,
    /// Events the handler found already done: the read model was at that version already (a
    /// redelivery), or the image was no longer processing.
    pub skipped: AtomicU64,
    /// Messages sent back to their queue through a delay queue, counting every attempt.
    pub retried: AtomicU64,
    /// Messages given up on and moved to the dead-letter queue.
    pub dead_lettered: AtomicU64,
    /// Milliseconds between the last handled event's `recorded_at` and its handling.
    pub last_lag_ms: AtomicU64,
    /// The highest event position handled so far (not the latest: the relay publishes in
    /// commit order and shards interleave).
    pub last_position: AtomicU64,
    /// The consumer's connection to RabbitMQ, as readiness sees it.
    pub link: Link,
}

/// Which of a sharded consumer's queues this process asks for first. A queue's single active
/// consumer is the one that registered first (RabbitMQ 3.10 has no priorities for it), so
/// processes that start together split the shards when each registers on its own share at
/// once and on the rest, as standby, a while later. Without a placement a process registers on
/// every shard at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placement {
    /// This process's index among the projector replicas (`PROJECTOR_INSTANCE`).
    pub instance: u16,
    /// How many projector replicas share the shards (`PROJECTOR_REPLICAS`); 0 or 1: no
    /// preference.
    pub replicas: u16,
    /// How long after connecting a process registers as standby on the other shards
    /// (`PROJECTOR_STANDBY_AFTER_SECS`): replicas starting within it each get their own.
    pub standby_after: Duration,
}

impl Placement {
    fn prefers(&self, shard: usize) -> bool {
        self.replicas <= 1 || shard % self.replicas as usize == self.instance as usize
    }
}

/// Registers a consumer on `queue`, on a channel of its own: delivery tags are per channel, so
/// a batch acknowledges each queue's deliveries up to its last one without touching another
/// queue's (see `handle_in_order`). Its deliveries carry the queue's name, where a retry must
/// return them.
async fn subscribe(
    connection: &lapin::Connection,
    queue: &str,
    prefetch: u16,
) -> lapin::Result<impl futures::Stream<Item = lapin::Result<(Arc<str>, Delivery)>>> {
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let stream = channel
        .basic_consume(
            queue.into(),
            format!("{queue}-{}", std::process::id()).as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let queue: Arc<str> = Arc::from(queue);
    Ok(stream.map(move |delivery| delivery.map(|d| (Arc::clone(&queue), d))))
}

/// A consumer of one handler's work queues: connects, declares the queues, and settles every
/// delivery with the handler's outcome, reconnecting after a broker failure.
pub struct Consumer<H: Handler> {
    /// What each event means; also names the queue ([`Handler::spec`]).
    pub handler: Arc<H>,
    /// The namespace's exchange and queues, and how many shards the queue is split into.
    pub topology: Topology,
    /// Which shards this process asks for first; the default takes every shard at once.
    pub placement: Placement,
    /// Where retries, dead letters, lag and position are counted, and the broker link that
    /// readiness reports; shared with the handler, which counts what it applied and skipped.
    pub stats: Arc<Stats>,
    /// Messages handled at once. 1 keeps delivery order, which the read models rely on; the
    /// image worker handles several at once, since images are independent of each other.
    pub concurrency: usize,
}

impl<H: Handler> Consumer<H> {
    /// Consumes until shutdown, reconnecting with backoff after any broker failure.
    pub async fn run(&self, amqp_url: &str, prefetch: u16, shutdown: &Shutdown) {
        let mut delay = Duration::from_millis(200);
        while !shutdown.is_triggered() {
            let started = Instant::now();
            let consumed = self.consume(amqp_url, prefetch, shutdown).await;
            self.stats.link.set(false);
            match consumed {
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
        let spec = self.handler.spec();
        let connection = broker::connect(amqp_url)
            .await
            .context("connecting to RabbitMQ")?;
        // A failed connection does not always end the futures waiting on it (an ack, a
        // publisher confirm, the consumer stream): every wait below also listens for the
        // connection's own error, so a reset reconnects instead of hanging.
        let mut lost = Box::pin(connection.events_listener().filter_map(|event| async move {
            match event {
                lapin::Event::Error(err) => Some(err),
                _ => None,
            }
        }));
        let channel = connection.create_channel().await?;
        self.topology.declare_consumer(&channel, &spec).await?;
        // Retries and dead letters are published on their own confirmed channel before the
        // original is acked, so a message is never lost between the two.
        let republish = connection.create_channel().await?;
        republish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        // One consumer per work queue (one per shard when sharded), merged into one stream;
        // each item keeps the queue it came from, where a retry must return it.
        let queues = self.topology.work_queues(&spec);
        let (mut own, mut standby): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        for (shard, queue) in queues.into_iter().enumerate() {
            match self.placement.prefers(shard) {
                true => own.push(queue),
                false => standby.push(queue),
            }
        }
        if own.is_empty() {
            // More replicas than shards: this one is a standby everywhere.
            own = std::mem::take(&mut standby);
        }
        let mut consumer = futures::stream::SelectAll::new();
        for queue in &own {
            consumer.push(subscribe(&connection, queue, prefetch).await?);
        }
        tracing::info!(queues = ?own, "consuming");
        let standby_timer = tokio::time::sleep(self.placement.standby_after);
        tokio::pin!(standby_timer);
        self.stats.link.set(true);
        let slots = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let (failed_tx, mut failed_rx) = tokio::sync::mpsc::channel::<anyhow::Error>(1);
        loop {
            // A free slot first, so prefetched messages wait in the broker's order.
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
                err = lost.next() => return Err(connection_lost(err)),
                () = shutdown.wait() => break,
            };
            tokio::select! {
                delivery = consumer.next() => {
                    let Some(delivery) = delivery else {
                        anyhow::bail!("the broker cancelled the consumer");
                    };
                    let delivery = delivery?;
                    let worker = self.clone_parts(republish.clone());
                    if self.concurrency <= 1 {
                        // In order, with what has already arrived behind it as one batch.
                        let mut batch = vec![delivery];
                        let mut broken = None;
                        while batch.len() < self.handler.batch_limit() {
                            match consumer.next().now_or_never() {
                                Some(Some(Ok(next))) => batch.push(next),
                                Some(Some(Err(err))) => {
                                    broken = Some(anyhow::Error::new(err));
                                    break;
                                }
                                Some(None) => {
                                    broken = Some(anyhow::anyhow!("the broker cancelled the consumer"));
                                    break;
                                }
                                None => break,
                            }
                        }
                        tokio::select! {
                            settled = worker.handle_in_order(batch) => settled.context("settling a message")?,
                            err = lost.next() => return Err(connection_lost(err)),
                        }
                        drop(slot);
                        if let Some(err) = broken {
                            return Err(err);
                        }
                    } else {
                        let failed = failed_tx.clone();
                        tokio::spawn(async move {
                            let (queue, delivery) = delivery;
                            let (outcome, span) = worker.process(&delivery, Utc::now()).await;
                            // In the event's span, so retry and dead-letter lines carry its ids.
                            if let Err(err) = worker.settle(&queue, delivery, outcome).instrument(span).await {
                                let _ = failed.try_send(err);
                            }
                            drop(slot);
                        });
                    }
                }
                () = &mut standby_timer, if !standby.is_empty() => {
                    drop(slot);
                    for queue in &standby {
                        consumer.push(subscribe(&connection, queue, prefetch).await?);
                    }
                    tracing::info!(queues = ?standby, "standing by to take over");
                    standby.clear();
                }
                err = lost.next() => return Err(connection_lost(err)),
                failure = failed_rx.recv() => {
                    if let Some(err) = failure {
                        return Err(err.context("settling a message"));
                    }
                }
                () = shutdown.wait() => break,
            }
            if let Ok(err) = failed_rx.try_recv() {
                return Err(err.context("settling a message"));
            }
        }
        // Let messages in hand finish and be settled before the channel closes; unacked ones
        // return to the queue when it does.
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            slots.acquire_many(self.concurrency.max(1) as u32),
        )
        .await;
        let _ = connection.close(200, "shutdown".into()).await;
        Ok(())
    }

    fn clone_parts(&self, republish: Channel) -> Worker<H> {
        Worker {
            handler: Arc::clone(&self.handler),
            topology: self.topology.clone(),
            stats: Arc::clone(&self.stats),
            republish,
            redeliveries: metrics::counter!(
                "catalog_consumer_redeliveries_total",
                "consumer" => self.handler.spec().name
            ),
        }
    }
}

/// The error a connection reported (`None`: its event stream ended with it).
fn connection_lost(err: Option<lapin::Error>) -> anyhow::Error {
    match err {
        Some(err) => anyhow::Error::new(err).context("the connection to RabbitMQ failed"),
        None => anyhow::anyhow!("the connection to RabbitMQ closed"),
    }
}

/// One message's handling, owned so it can run as a task of its own.
struct Worker<H: Handler> {
    handler: Arc<H>,
    topology: Topology,
    stats: Arc<Stats>,
    republish: Channel,
    /// `catalog_consumer_redeliveries_total` of this consumer, registered with the worker so
    /// that the series reads 0 rather than being absent until the first redelivery: "none" and
    /// "not exported" stay distinguishable.
    redeliveries: metrics::Counter,
}

impl<H: Handler> Worker<H> {
    /// Handles deliveries that must keep their order: all at once through `handle_batch` when
    /// there are several, every one an event, and the batch succeeds; otherwise one at a time.
    async fn handle_in_order(&self, deliveries: Vec<(Arc<str>, Delivery)>) -> anyhow::Result<()> {
        // Every one of them arrived by now: the batch is what had already arrived.
        let received = Utc::now();
        if deliveries.len() > 1 {
            // All the messages' events, in order, and how many each message carried.
            let mut events: Vec<WireEvent> = Vec::with_capacity(deliveries.len());
            let counts: Option<Vec<usize>> = deliveries
                .iter()
                .map(|(_, d)| {
                    let carried = self.events_of(d).ok()?;
                    let count = carried.len();
                    events.extend(carried);
                    Some(count)
                })
                .collect();
            if let Some(counts) = counts {
                let handled = AssertUnwindSafe(self.handler.handle_batch(&events))
                    .catch_unwind()
                    .await;
                match handled {
                    Ok(Ok(())) => {
                        let consumer = self.handler.spec().name;
                        let mut rest = events.as_slice();
                        for ((_, delivery), count) in deliveries.iter().zip(counts) {
                            self.note_redelivery(delivery);
                            let carried;
                            (carried, rest) = rest.split_at(count);
                            for event in carried {
                                self.handled(event, delivery, received, &event_span(event));
                            }
                            metrics::counter!("catalog_consumer_messages_total", "consumer" => consumer, "outcome" => "ack")
                                .increment(1);
                        }
                        // Each queue has a channel of its own, and every earlier delivery of
                        // a channel is settled or in this batch: one ack per queue, for all of
                        // its deliveries, on the last of them.
                        let mut last_of: Vec<(&Arc<str>, &Delivery)> = Vec::new();
                        for (queue, delivery) in &deliveries {
                            match last_of.iter_mut().find(|(q, _)| *q == queue) {
                                Some(entry) => entry.1 = delivery,
                                None => last_of.push((queue, delivery)),
                            }
                        }
                        for (_, last) in last_of {
                            last.ack(BasicAckOptions { multiple: true }).await?;
                        }
                        return Ok(());
                    }
                    Ok(Err(err)) => {
                        tracing::debug!(error = %err, "batch failed; handling its messages one by one");
                    }
                    Err(_) => tracing::warn!("batch panicked; handling its messages one by one"),
                }
            }
        }
        for (queue, delivery) in deliveries {
            let (outcome, span) = self.process(&delivery, received).await;
            // In the event's span, so retry and dead-letter lines carry its ids.
            self.settle(&queue, delivery, outcome)
                .instrument(span)
                .await?;
        }
        Ok(())
    }

    /// The events of a message this consumer handles: products' events of the types it wants
    /// (a message bound to it may carry others too).
    fn events_of(&self, delivery: &Delivery) -> serde_json::Result<Vec<WireEvent>> {
        let spec = self.handler.spec();
        let mut events = broker::decode(&delivery.data)?;
        events.retain(|event| event.aggregate_type == "Product" && spec.wants(event));
        Ok(events)
    }

    fn note_redelivery(&self, delivery: &Delivery) {
        if delivery.redelivered {
            // The broker gave this message before to a consumer that did not settle it
            // (crashed, disconnected, shut down with it in hand).
            self.redeliveries.increment(1);
        }
    }

    /// Records an event as handled: its lag, split into stages where the relay stamped the
    /// message, its position, and its line in the log.
    fn handled(
        &self,
        event: &WireEvent,
        delivery: &Delivery,
        received: DateTime<Utc>,
        span: &tracing::Span,
    ) {
        let consumer = self.handler.spec().name;
        let now = Utc::now();
        let lag = millis(now - event.recorded_at);
        metrics::histogram!("catalog_projection_lag_seconds", "consumer" => consumer)
            .record(lag as f64 / 1000.0);
        // Before publishing (the commit and the relay), in the broker (queue and delivery), and
        // in this consumer (waiting for a batch to finish, and applying it).
        let stages = published_at(&delivery.properties).map(|published| {
            [
                ("relay", seconds(published - event.recorded_at)),
                ("broker", seconds(received - published)),
                ("consumer", seconds(now - received)),
            ]
        });
        for (stage, seconds) in stages.iter().flatten() {
            metrics::histogram!("catalog_projection_stage_seconds", "consumer" => consumer, "stage" => *stage)
                .record(*seconds);
        }
        self.stats.last_lag_ms.store(lag, Ordering::Relaxed);
        // The highest, not the latest: the relay publishes in commit order, which can put a
        // higher position before a lower one, and shards interleave.
        let position = event.position as u64;
        let highest = self
            .stats
            .last_position
            .fetch_max(position, Ordering::Relaxed)
            .max(position);
        metrics::gauge!("catalog_projection_last_position", "consumer" => self.handler.spec().name)
            .set(highest as f64);
        // One line per event, in the event's span: with the request and correlation ids it
        // carries, the logs follow a change from its request to every consumer.
        // Fractions of a millisecond: the stages are what a 20 ms goal is split into.
        let stage = |k: usize| stages.map(|s| (s[k].1 * 1e6).round() / 1e3);
        tracing::info!(
            parent: span,
            consumer,
            lag_ms = lag,
            relay_ms = stage(0),
            broker_ms = stage(1),
            consumer_ms = stage(2),
            "event handled"
        );
    }

    async fn process(
        &self,
        delivery: &Delivery,
        received: DateTime<Utc>,
    ) -> (Outcome, tracing::Span) {
        self.note_redelivery(delivery);
        let events = match self.events_of(delivery) {
            Ok(events) => events,
            Err(err) => {
                let outcome = Outcome::DeadLetter(format!("undecodable message: {err}"));
                return (outcome, tracing::Span::current());
            }
        };
        let Some(first) = events.first() else {
            return (Outcome::Ack, tracing::Span::current());
        };
        let span = event_span(first);
        let handling = async {
            match events.as_slice() {
                [event] => self.handler.handle(event).await,
                events => self.handler.handle_batch(events).await,
            }
        };
        let handled = AssertUnwindSafe(handling.instrument(span.clone()))
            .catch_unwind()
            .await;
        let outcome = match handled {
            Ok(Ok(())) => {
                for event in &events {
                    self.handled(event, delivery, received, &event_span(event));
                }
                Outcome::Ack
            }
            Ok(Err(ApplyError::Permanent(err))) => Outcome::DeadLetter(format!("{err:#}")),
            Ok(Err(ApplyError::Transient(err))) => Outcome::Retry {
                reason: format!("{err:#}"),
                counted: false,
            },
            Ok(Err(ApplyError::Failing(err))) => Outcome::Retry {
                reason: format!("{err:#}"),
                counted: true,
            },
            Err(_) => Outcome::Retry {
                reason: "the handler panicked".to_string(),
                counted: true,
            },
        };
        (outcome, span)
    }

    /// Settles a delivery from `queue`: a retry goes back to that queue through its delay queue.
    async fn settle(
        &self,
        queue: &str,
        delivery: Delivery,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        let spec = self.handler.spec();
        let consumer = spec.name;
        let attempt = attempt_of(&delivery) + 1;
        let target = match outcome {
            Outcome::Ack => None,
            Outcome::Retry { reason, counted } if !counted || attempt <= MAX_ATTEMPTS => {
                tracing::warn!(attempt, reason, "retrying later");
                metrics::counter!("catalog_consumer_retries_total", "consumer" => consumer)
                    .increment(1);
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                let attempt = if counted {
                    attempt
                } else {
                    attempt.min(MAX_ATTEMPTS)
                };
                Some((self.topology.retry_queue_for(queue, attempt), attempt, None))
            }
            Outcome::Retry { reason, .. } | Outcome::DeadLetter(reason) => {
                tracing::error!(attempt, reason, "dead-lettering message");
                metrics::counter!("catalog_consumer_dead_letters_total", "consumer" => consumer)
                    .increment(1);
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                for event in self.events_of(&delivery).unwrap_or_default() {
                    self.handler.dead_lettered(&event, &reason).await;
                }
                Some((self.topology.dead_queue(&spec), attempt, Some(reason)))
            }
        };
        let settled = match &target {
            None => "ack",
            Some((_, _, None)) => "retry",
            Some((_, _, Some(_))) => "dead_letter",
        };
        metrics::counter!("catalog_consumer_messages_total", "consumer" => consumer, "outcome" => settled)
            .increment(1);
        if let Some((queue, attempt, failure)) = target {
            let properties = with_headers(delivery.properties.clone(), attempt, failure);
            let confirm = self
                .republish
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

/// The span every log line about one event is written in: the ids that trace it to the request
/// that caused it.
/// Whole milliseconds of a span of time between two clocks, 0 when they disagree on its sign.
fn millis(span: chrono::TimeDelta) -> u64 {
    span.num_milliseconds().max(0) as u64
}

/// Seconds of a span of time between two clocks, to the microsecond; 0 when they disagree on
/// its sign.
fn seconds(span: chrono::TimeDelta) -> f64 {
    span.num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
}

fn event_span(event: &WireEvent) -> tracing::Span {
    tracing::info_span!(
        "event",
        event_id = %event.event_id,
        event_type = %event.event_type,
        product_id = %event.aggregate_id,
        sequence = event.sequence,
        correlation_id = event.metadata("correlation_id"),
        causation_id = event.metadata("causation_id"),
        request_id = event.metadata("request_id"),
    )
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
        AMQPValue::LongLongInt(i64::from(attempt)),
    );
    if let Some(failure) = failure {
        headers.insert(
            ShortString::from(FAILURE_HEADER),
            AMQPValue::LongString(LongString::from(failure.as_str())),
        );
    }
    properties.with_headers(headers)
}

/// Logs the consumer's progress every `every`: events applied per second and the lag.
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
            "status"
        );
    }
}

#[cfg(test)]
mod placement_tests {
    use super::Placement;

    #[test]
    fn replicas_split_the_shards_between_them() {
        let shards = 0..8;
        let owners: Vec<Vec<usize>> = (0..3)
            .map(|instance| {
                let placement = Placement {
                    instance,
                    replicas: 3,
                    ..Placement::default()
                };
                shards.clone().filter(|s| placement.prefers(*s)).collect()
            })
            .collect();
        assert_eq!(owners, vec![vec![0, 3, 6], vec![1, 4, 7], vec![2, 5]]);
        let alone = Placement::default();
        assert!(
            shards.clone().all(|s| alone.prefers(s)),
            "without replicas: every shard"
        );
    }
}
