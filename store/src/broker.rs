//! RabbitMQ: the topology every process declares the same way, and the event as it travels.
//!
//! ```text
//! <ns>.events (topic) ──product.#──────────────────> <ns>.projector-g3 ──x-delivery-limit──> <ns>.projector-g3.dead
//!                     └─product.#.ImageAttached.#──> <ns>.images    ──x-delivery-limit──> <ns>.images.dead
//!                     └─product.#.ImageRemoved.#───┘
//! <ns>.<consumer>.retry.<delay> (TTL) ──dead-letters back──> <ns>.<consumer>
//! ```
//!
//! A message carries consecutive events of one product (see [`messages`]): a commit that
//! stores five events of a product is one message, not five, since RabbitMQ's cost is per
//! message far more than per byte. Its routing key names each type it carries once, in order
//! (`product.ProductCreated.VariantAdded`), so a consumer that wants only some types binds
//! `product.#.<Type>.#` and receives every message holding one.
//!
//! Work queues are quorum queues: replicated, and with a delivery limit, so a message that
//! crashes its consumer again and again is moved aside instead of blocking the queue. Delays
//! are TTL queues that dead-letter back into the work queue (there is no delay plugin).
//!
//! With `PROJECTOR_SHARDS` = K > 1 the projector's events go through a consistent-hash exchange
//! (plugin `rabbitmq_consistent_hash_exchange`) that routes by the `aggregate_id` header, so each
//! product always lands in the same one of K queues, each with single-active-consumer:
//!
//! ```text
//! <ns>.events ──product.#──> <ns>.projector-g3.shards (x-consistent-hash) ──> <ns>.projector-g3.0 … .K-1
//! <ns>.projector-g3.<k>.retry.<delay> ──dead-letters back──> <ns>.projector-g3.<k>
//! ```

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lapin::options::{
    ExchangeBindOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};

/// A consumer's queue and where its messages are routed from.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSpec {
    /// The consumer's name in metrics and logs.
    pub name: &'static str,
    /// The consumer's part of every queue name: `<ns>.<queues>`, `<ns>.<queues>.dead`, ….
    pub queues: &'static str,
    /// The event types the consumer handles; empty for every type. Its queue is bound to the
    /// messages that hold at least one of them, and it is handed only those events.
    pub event_types: &'static [&'static str],
    /// Whether its messages are spread over the topology's shards by product (the order of
    /// each product's events matters), or all go to one queue of competing consumers.
    pub sharded: bool,
}

/// The projector: every product event, spread over the shards by product (when there are
/// several) so that each product's events stay in order. Each read-model generation has
/// queues of its own (see `catalog_read_model::generation`): while a release builds its
/// generation, the previous release's projector keeps consuming its own.
pub const PROJECTOR: ConsumerSpec = projector_of(3);

/// The projector of read-model `generation`; v1's (generation 1) is `projector`.
pub const fn projector_of(generation: i32) -> ConsumerSpec {
    ConsumerSpec {
        name: "projector",
        queues: match generation {
            1 => "projector",
            2 => "projector-g2",
            3 => "projector-g3",
            _ => panic!("name the queues of a new read-model generation here"),
        },
        event_types: &[],
        sharded: true,
    }
}

/// The image worker: only the events that attach or remove an image, taken from one queue by
/// competing consumers.
pub const IMAGES: ConsumerSpec = ConsumerSpec {
    name: "images",
    queues: "images",
    event_types: &["ImageAttached", "ImageRemoved"],
    sharded: false,
};

impl ConsumerSpec {
    /// Routing-key patterns on the events exchange (topic syntax) whose messages the consumer
    /// receives: a message's key names each type it carries (see [`routing_key`]).
    pub fn bindings(&self) -> Vec<String> {
        if self.event_types.is_empty() {
            return vec!["product.#".to_string()];
        }
        self.event_types
            .iter()
            .map(|event_type| format!("product.#.{event_type}.#"))
            .collect()
    }

    /// Whether the consumer handles `event`; a message bound to it may carry others too.
    pub fn wants(&self, event: &WireEvent) -> bool {
        self.event_types.is_empty() || self.event_types.contains(&event.event_type.as_str())
    }
}

/// Every consumer the relay must make sure exists before it publishes, so that no event is
/// routed to nowhere while a consumer has never started.
pub const CONSUMERS: [ConsumerSpec; 2] = [PROJECTOR, IMAGES];

/// Backoff tiers of a retried message: its nth retry waits `RETRY_DELAYS[n]` (the last tier
/// repeats). After `MAX_ATTEMPTS` the message goes to the dead-letter queue.
pub const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(60),
];
/// Retries a failing message gets before it is dead-lettered. Only counted failures (a failing
/// handler, a panic) use them up; a message waiting on an unavailable dependency is retried for
/// as long as it takes.
pub const MAX_ATTEMPTS: u32 = 6;

/// Redeliveries (consumer crashed or nacked) before RabbitMQ itself moves a message aside.
const DELIVERY_LIMIT: i64 = 20;

/// Header counting how often a message has been retried through the delay queues.
pub const ATTEMPT_HEADER: &str = "x-catalog-attempt";
/// Header naming why a message was dead-lettered.
pub const FAILURE_HEADER: &str = "x-catalog-failure";

/// The header the relay puts every event's product id in; the shards are chosen by it.
const SHARD_HEADER: &str = "aggregate_id";

/// Names of every exchange and queue in one namespace.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Prefix of every exchange and queue name, so deployments (and tests) sharing a broker
    /// never see each other's messages.
    pub namespace: String,
    /// Work queues of a sharded consumer; 1 is a single queue, as an unsharded consumer has.
    /// Every process of a deployment must agree on it (`PROJECTOR_SHARDS`).
    pub shards: u16,
}

impl Topology {
    /// The topology of `namespace`, unsharded (see [`Topology::with_shards`]).
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            shards: 1,
        }
    }

    /// Spreads sharded consumers over `shards` work queues; 0 is taken as 1.
    pub fn with_shards(mut self, shards: u16) -> Self {
        self.shards = shards.max(1);
        self
    }

    fn sharded(&self, consumer: &ConsumerSpec) -> bool {
        consumer.sharded && self.shards > 1
    }

    /// The queues the consumer's messages wait in: its one queue, or one per shard.
    pub fn work_queues(&self, consumer: &ConsumerSpec) -> Vec<String> {
        if self.sharded(consumer) {
            (0..self.shards)
                .map(|shard| format!("{}.{shard}", self.queue(consumer)))
                .collect()
        } else {
            vec![self.queue(consumer)]
        }
    }

    /// The consistent-hash exchange in front of a sharded consumer's queues.
    pub fn shard_exchange(&self, consumer: &ConsumerSpec) -> String {
        format!("{}.shards", self.queue(consumer))
    }

    /// The topic exchange the relay publishes every event to, with routing key
    /// `product.<EventType>`.
    pub fn exchange(&self) -> String {
        format!("{}.events", self.namespace)
    }

    /// The consumer's work queue when unsharded; the stem of its shard queues' names otherwise.
    pub fn queue(&self, consumer: &ConsumerSpec) -> String {
        format!("{}.{}", self.namespace, consumer.queues)
    }

    /// Where the consumer's given-up messages are kept for inspection: one per consumer, shared
    /// by its shards. Nothing consumes it.
    pub fn dead_queue(&self, consumer: &ConsumerSpec) -> String {
        format!("{}.{}.dead", self.namespace, consumer.queues)
    }

    /// The delay queue that returns messages to `work_queue` after `delay`: each work queue has
    /// its own, so a retried event comes back to its product's shard.
    pub fn retry_queue(&self, work_queue: &str, delay: Duration) -> String {
        format!("{work_queue}.retry.{}s", delay.as_secs())
    }

    /// The retry queue for a message's `attempt`th retry (1-based).
    pub fn retry_queue_for(&self, work_queue: &str, attempt: u32) -> String {
        let tier = (attempt.max(1) as usize - 1).min(RETRY_DELAYS.len() - 1);
        self.retry_queue(work_queue, RETRY_DELAYS[tier])
    }

    /// Declares the durable events exchange. Idempotent.
    pub async fn declare_exchange(&self, channel: &Channel) -> lapin::Result<()> {
        channel
            .exchange_declare(
                self.exchange().as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
    }

    /// Declares the consumer's work queues, their retry tiers and the dead-letter queue, and
    /// binds the work queues (through the shard exchange when sharded). Idempotent: every
    /// process declares with the same arguments.
    pub async fn declare_consumer(
        &self,
        channel: &Channel,
        consumer: &ConsumerSpec,
    ) -> lapin::Result<()> {
        self.declare_exchange(channel).await?;
        let dead = self.dead_queue(consumer);
        declare_queue(channel, &dead, quorum(BTreeMap::new())).await?;
        let sharded = self.sharded(consumer);
        if sharded {
            let shards = self.shard_exchange(consumer);
            let mut arguments = FieldTable::default();
            arguments.insert(ShortString::from("hash-header"), string(SHARD_HEADER));
            channel
                .exchange_declare(
                    shards.as_str().into(),
                    ExchangeKind::Custom("x-consistent-hash".into()),
                    ExchangeDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    arguments,
                )
                .await?;
            for binding in consumer.bindings() {
                channel
                    .exchange_bind(
                        shards.as_str().into(),
                        self.exchange().as_str().into(),
                        binding.as_str().into(),
                        ExchangeBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        for queue in self.work_queues(consumer) {
            let mut arguments = BTreeMap::from([
                ("x-delivery-limit", AMQPValue::LongLongInt(DELIVERY_LIMIT)),
                ("x-dead-letter-exchange", string("")),
                ("x-dead-letter-routing-key", string(&dead)),
                ("x-dead-letter-strategy", string("at-least-once")),
                ("x-overflow", string("reject-publish")),
            ]);
            if sharded {
                // One process at a time consumes a shard, so its products' events are applied
                // in order; the others wait as standbys and take over when it goes.
                arguments.insert("x-single-active-consumer", AMQPValue::Boolean(true));
            }
            declare_queue(channel, &queue, quorum(arguments)).await?;
            for delay in RETRY_DELAYS {
                declare_queue(
                    channel,
                    &self.retry_queue(&queue, delay),
                    quorum(BTreeMap::from([
                        (
                            "x-message-ttl",
                            AMQPValue::LongLongInt(delay.as_millis() as i64),
                        ),
                        ("x-dead-letter-exchange", string("")),
                        ("x-dead-letter-routing-key", string(&queue)),
                        ("x-dead-letter-strategy", string("at-least-once")),
                        ("x-overflow", string("reject-publish")),
                    ])),
                )
                .await?;
            }
            // Equal weights: each shard takes an equal part of the hash ring.
            let bindings: Vec<(String, String)> = if sharded {
                vec![(self.shard_exchange(consumer), "1".to_string())]
            } else {
                consumer
                    .bindings()
                    .into_iter()
                    .map(|binding| (self.exchange(), binding))
                    .collect()
            };
            for (exchange, routing_key) in bindings {
                channel
                    .queue_bind(
                        queue.as_str().into(),
                        exchange.as_str().into(),
                        routing_key.as_str().into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes everything of this namespace (tests clean up with it).
    pub async fn delete_all(&self, channel: &Channel) -> lapin::Result<()> {
        for consumer in CONSUMERS {
            self.delete_consumer(channel, &consumer).await?;
        }
        channel
            .exchange_delete(
                self.exchange().as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await
    }

    /// Deletes the consumer's queues (work, shard, retry and dead-letter) and its shard
    /// exchange: a consumer retired for good, such as an old read-model generation's
    /// projector. Messages still in them are gone.
    pub async fn delete_consumer(
        &self,
        channel: &Channel,
        consumer: &ConsumerSpec,
    ) -> lapin::Result<()> {
        let mut queues = vec![self.dead_queue(consumer)];
        for queue in self.work_queues(consumer) {
            queues.extend(RETRY_DELAYS.iter().map(|d| self.retry_queue(&queue, *d)));
            queues.push(queue);
        }
        for queue in queues {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
        if self.sharded(consumer) {
            channel
                .exchange_delete(
                    self.shard_exchange(consumer).as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
                .await?;
        }
        Ok(())
    }
}

fn string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn quorum(mut args: BTreeMap<&'static str, AMQPValue>) -> FieldTable {
    args.insert("x-queue-type", string("quorum"));
    let mut table = FieldTable::default();
    for (key, value) in args {
        table.insert(ShortString::from(key), value);
    }
    table
}

async fn declare_queue(channel: &Channel, name: &str, args: FieldTable) -> lapin::Result<()> {
    channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .map(|_| ())
}

/// The header the relay stamps on each message as it publishes it, in microseconds since the
/// Unix epoch: with the event's `recorded_at` and the moment a consumer receives it, it splits
/// an event's lag into the time before publishing (commit and relay), in the broker, and in the
/// consumer. A message published without it (by hand, or by a test) is simply not split.
pub const PUBLISHED_AT: &str = "published_at";

/// When the relay published the message, if it says.
pub fn published_at(properties: &BasicProperties) -> Option<DateTime<Utc>> {
    match properties.headers().as_ref()?.inner().get(PUBLISHED_AT)? {
        AMQPValue::LongLongInt(micros) => DateTime::from_timestamp_micros(*micros),
        _ => None,
    }
}

/// How long one node may take to accept a connection and finish the AMQP handshake before the
/// next one is tried. A node whose process is gone refuses at once; one whose machine is gone
/// or cut off would hold the caller for the TCP timeout, minutes, without it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where each `AMQP_URL` list starts its next attempt: the index of the node this process last
/// connected to. Keyed by the whole list, as a process (a test, say) may use several.
static PREFERRED: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// Connects to RabbitMQ once; callers decide how to retry. `urls` is one broker's URL, or every
/// node of a cluster, comma-separated (`AMQP_URL`): they are tried in turn, each for at most
/// [`CONNECT_TIMEOUT`], and the first that connects is the connection.
///
/// The turn starts at the node this process last connected to, so after a failure it starts
/// past the node that failed, and a process whose node is up stays on it. It is the list's
/// order, not a random or rotating start: every process given the same list meets on the same
/// node, and with quorum queues' leaders placed on the node that declared them (the relay's
/// and the projectors' connection), publishers, consumers and leaders share a node and each
/// message crosses the cluster only for replication. Listing the nodes in another order per
/// machine spreads connections when that is wanted.
///
/// # Errors
/// The last node's error when none connects.
pub async fn connect(urls: &str) -> lapin::Result<Connection> {
    let nodes: Vec<&str> = catalog_support::config::list_entries(urls).collect();
    let start = PREFERRED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(urls)
        .copied()
        .unwrap_or(0);
    let mut failure = None;
    for node in attempt_order(nodes.len(), start) {
        let attempt = Connection::connect(nodes[node], ConnectionProperties::default());
        let error = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(connection)) => {
                if node != start {
                    tracing::info!(node = node + 1, at = %address(nodes[node]), "connected to another RabbitMQ node");
                    PREFERRED
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(urls.to_string(), node);
                }
                return Ok(connection);
            }
            Ok(Err(err)) => err,
            Err(_) => std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {CONNECT_TIMEOUT:?}"),
            )
            .into(),
        };
        if nodes.len() > 1 {
            tracing::warn!(node = node + 1, at = %address(nodes[node]), error = %error, "RabbitMQ node unreachable; trying the next");
        }
        failure = Some(error);
    }
    Err(failure.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no AMQP URL given").into()
    }))
}

/// The nodes of a list of `len`, in the order [`connect`] tries them from `start`.
fn attempt_order(len: usize, start: usize) -> impl Iterator<Item = usize> {
    (0..len).map(move |k| (start + k) % len)
}

/// A node's host and port, for logs: the URL itself carries a password.
fn address(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port().unwrap_or(5672))))
        .unwrap_or_else(|| "an unparsable URL".to_string())
}

/// An event as it travels on the broker: the stored row, whole, so a consumer never has to read
/// the event store for the event it was sent. Selecting the `events` columns of the same names
/// gives one directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct WireEvent {
    /// The event's stable identity: the AMQP message id, and the `causation_id` of the events
    /// it causes.
    pub event_id: uuid::Uuid,
    /// Global order of insertion into the store, which is not the order of commit (see
    /// [`crate::relay`]).
    pub position: i64,
    /// The aggregate's kind, `Product`.
    pub aggregate_type: String,
    /// The product's id: the shard key and the `aggregate_id` header.
    pub aggregate_id: String,
    /// The product's version after this event: 1-based and consecutive per product.
    pub sequence: i64,
    /// The event's type name (`PriceChanged`), also the last part of its routing key.
    pub event_type: String,
    /// Version of the payload's shape.
    pub event_version: String,
    /// The event as stored: tagged with its type (`{"PriceChanged": {...}}`).
    pub payload: serde_json::Value,
    /// Who and what caused the event: `actor`, `request_id`, `correlation_id`,
    /// `causation_id`, and `idempotency_key` when the request carried one.
    #[sqlx(json)]
    pub metadata: BTreeMap<String, String>,
    /// When the event was inserted (the insert's clock, not its transaction's start).
    pub recorded_at: DateTime<Utc>,
}

impl WireEvent {
    /// The metadata value of `key`, or `""` when the event has none.
    pub fn metadata(&self, key: &str) -> &str {
        self.metadata.get(key).map_or("", String::as_str)
    }
}

/// The most events one message carries; a longer run of one product's events is split, in
/// order, over several messages. It bounds a message's size, and what one failing message
/// sends back through the retry queues.
pub const MESSAGE_EVENTS_MAX: usize = 64;

/// AMQP's limit on a routing key: a short string.
const ROUTING_KEY_MAX: usize = 255;

/// Splits events, in publishing order, into messages: runs of consecutive events of one
/// product, at most [`MESSAGE_EVENTS_MAX`] long, whose routing key fits AMQP's limit. A run
/// need not be one commit: consecutive commits of a product are applied in the same order
/// either way.
pub fn messages(events: &[WireEvent]) -> Vec<&[WireEvent]> {
    let mut messages = Vec::new();
    let mut start = 0;
    let mut types: Vec<&str> = Vec::new();
    let mut key_len = "product".len();
    for (i, event) in events.iter().enumerate() {
        let new_type = !types.contains(&event.event_type.as_str());
        let full = i > start
            && (event.aggregate_id != events[start].aggregate_id
                || i - start == MESSAGE_EVENTS_MAX
                || (new_type && key_len + 1 + event.event_type.len() > ROUTING_KEY_MAX));
        if full {
            messages.push(&events[start..i]);
            start = i;
            types.clear();
            key_len = "product".len();
        }
        if full || new_type {
            types.push(&event.event_type);
            key_len += 1 + event.event_type.len();
        }
    }
    if start < events.len() {
        messages.push(&events[start..]);
    }
    messages
}

/// The event types a message carries, each once, in order of first appearance.
fn types_of(message: &[WireEvent]) -> Vec<&str> {
    let mut types: Vec<&str> = Vec::with_capacity(message.len());
    for event in message {
        if !types.contains(&event.event_type.as_str()) {
            types.push(&event.event_type);
        }
    }
    types
}

/// `product.<Type>[.<Type>…]`, each type the message carries once: what consumers' bindings
/// match on (`product.#` for every message, `product.#.ImageAttached.#` for those holding an
/// `ImageAttached`). A message of one event has the key `product.<EventType>`.
pub fn routing_key(message: &[WireEvent]) -> String {
    let mut key = String::from("product");
    for event_type in types_of(message) {
        key.push('.');
        key.push_str(event_type);
    }
    key
}

/// A message's body: a lone event as a JSON object, as every message was before messages
/// carried several, and several as an array, in order.
pub fn encode(message: &[WireEvent]) -> serde_json::Result<Vec<u8>> {
    match message {
        [event] => serde_json::to_vec(event),
        events => serde_json::to_vec(events),
    }
}

/// The events a message carries, in order: an object is one event, an array several.
pub fn decode(body: &[u8]) -> serde_json::Result<Vec<WireEvent>> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(body),
        _ => serde_json::from_slice(body).map(|event| vec![event]),
    }
}

/// Publishes one message (see [`messages`]) to the namespace's exchange, stamped
/// [`PUBLISHED_AT`] when `published` says when; the broker's confirm is the caller's to await.
///
/// # Errors
/// When the body cannot be encoded or the channel refuses the publish.
pub async fn publish(
    channel: &Channel,
    topology: &Topology,
    message: &[WireEvent],
    published: Option<DateTime<Utc>>,
) -> anyhow::Result<lapin::PublisherConfirm> {
    Ok(channel
        .basic_publish(
            topology.exchange().as_str().into(),
            routing_key(message).as_str().into(),
            lapin::options::BasicPublishOptions::default(),
            &encode(message)?,
            properties(message, published),
        )
        .await?)
}

/// Persistent, identified by its first event's id, with the ids a consumer logs or routes on
/// as headers so they can be read without parsing the body (`events` counts what it carries,
/// `sequence` and `position` are its first event's), and stamped [`PUBLISHED_AT`] when
/// `published` says when.
///
/// # Panics
/// When `message` is empty: [`messages`] never makes one.
pub fn properties(message: &[WireEvent], published: Option<DateTime<Utc>>) -> BasicProperties {
    let first = message
        .first()
        .expect("a message carries at least one event");
    let types = types_of(message).join(",");
    let mut headers = FieldTable::default();
    let mut put = |key: &str, value: AMQPValue| {
        headers.insert(ShortString::from(key), value);
    };
    put("aggregate_id", string(&first.aggregate_id));
    put("event_type", string(&types));
    put("events", AMQPValue::LongLongInt(message.len() as i64));
    put("sequence", AMQPValue::LongLongInt(first.sequence));
    put("position", AMQPValue::LongLongInt(first.position));
    for key in ["correlation_id", "causation_id", "request_id", "actor"] {
        put(key, string(first.metadata(key)));
    }
    if let Some(at) = published {
        put(PUBLISHED_AT, AMQPValue::LongLongInt(at.timestamp_micros()));
    }
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(first.event_id.to_string().as_str().into())
        .with_correlation_id(first.metadata("correlation_id").into())
        .with_timestamp(first.recorded_at.timestamp().max(0) as u64)
        .with_type(types.as_str().into())
        .with_headers(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(product: &str, sequence: i64, event_type: &str) -> WireEvent {
        WireEvent {
            event_id: uuid::Uuid::now_v7(),
            position: sequence,
            aggregate_type: "Product".into(),
            aggregate_id: product.into(),
            sequence,
            event_type: event_type.into(),
            event_version: "1".into(),
            payload: serde_json::json!({ event_type: {} }),
            metadata: BTreeMap::from([("correlation_id".into(), format!("c-{product}"))]),
            recorded_at: Utc::now(),
        }
    }

    fn shapes(messages: &[&[WireEvent]]) -> Vec<(String, usize)> {
        messages
            .iter()
            .map(|m| (m[0].aggregate_id.clone(), m.len()))
            .collect()
    }

    #[test]
    fn consecutive_events_of_a_product_travel_as_one_message() {
        let events = vec![
            event("a", 1, "ProductCreated"),
            event("a", 2, "VariantAdded"),
            event("a", 3, "VariantAdded"),
            event("b", 1, "ProductCreated"),
            event("a", 4, "PriceChanged"),
        ];
        let messages = messages(&events);
        assert_eq!(
            shapes(&messages),
            [("a".into(), 3), ("b".into(), 1), ("a".into(), 1)]
        );
        assert_eq!(
            routing_key(messages[0]),
            "product.ProductCreated.VariantAdded"
        );
        assert_eq!(routing_key(messages[2]), "product.PriceChanged");
        let headers = properties(messages[0], None).headers().clone().unwrap();
        assert_eq!(
            headers.inner().get("events"),
            Some(&AMQPValue::LongLongInt(3))
        );
        assert_eq!(
            headers.inner().get("aggregate_id"),
            Some(&string("a")),
            "the shard key is the product's"
        );
    }

    #[test]
    fn a_long_run_is_split_at_the_cap_and_at_the_routing_key_limit() {
        let many: Vec<WireEvent> = (1..=MESSAGE_EVENTS_MAX as i64 * 2 + 1)
            .map(|n| event("a", n, "PriceChanged"))
            .collect();
        let lengths: Vec<usize> = messages(&many).iter().map(|m| m.len()).collect();
        assert_eq!(lengths, [MESSAGE_EVENTS_MAX, MESSAGE_EVENTS_MAX, 1]);

        // Thirty distinct 20-letter types do not fit one key of 255 bytes.
        let varied: Vec<WireEvent> = (1..=30)
            .map(|n| event("a", n, &format!("Type{n:0>16}")))
            .collect();
        let split = messages(&varied);
        assert!(split.len() > 1);
        assert_eq!(split.iter().map(|m| m.len()).sum::<usize>(), 30);
        for message in &split {
            assert!(routing_key(message).len() <= ROUTING_KEY_MAX);
            assert!(message[0].event_type.len() + "product.".len() <= ROUTING_KEY_MAX);
        }
        assert!(messages(&[]).is_empty());
    }

    #[test]
    fn a_body_decodes_to_the_events_it_was_made_of() {
        let one = vec![event("a", 1, "ProductCreated")];
        let body = encode(&one).unwrap();
        assert_eq!(body.first(), Some(&b'{'), "a lone event is an object");
        assert_eq!(decode(&body).unwrap(), one);

        let several = vec![
            event("a", 1, "ProductCreated"),
            event("a", 2, "ImageAttached"),
        ];
        let body = encode(&several).unwrap();
        assert_eq!(decode(&body).unwrap(), several);
        assert!(decode(b" [ ").is_err());
        assert!(decode(b"{\"event_id\": 1}").is_err());
    }

    #[test]
    fn nodes_are_tried_in_list_order_from_the_last_that_connected() {
        assert_eq!(attempt_order(3, 0).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(attempt_order(3, 1).collect::<Vec<_>>(), [1, 2, 0]);
        assert_eq!(attempt_order(3, 2).collect::<Vec<_>>(), [2, 0, 1]);
        assert_eq!(attempt_order(1, 0).collect::<Vec<_>>(), [0]);
        assert_eq!(attempt_order(0, 0).count(), 0);
        assert_eq!(
            address("amqp://u:secret@10.0.0.2:5673/%2f"),
            "10.0.0.2:5673"
        );
        assert_eq!(address("amqp://u:secret@rabbit-b/%2f"), "rabbit-b:5672");
    }

    /// The broker the tests share (scripts/test starts it), as in every other broker test.
    const SHARED_BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

    #[tokio::test]
    async fn a_node_that_fails_is_passed_over_and_the_next_one_kept() {
        // A "node" that accepts and hangs up at once: a broker that is going down. It counts the
        // attempts made on it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let failing = listener.local_addr().unwrap().port();
        let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&attempts);
        let server = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(socket);
            }
        });
        let urls = format!("amqp://guest:guest@127.0.0.1:{failing}/%2f, {SHARED_BROKER}");
        let connection = connect(&urls).await.expect("the second node connects");
        assert!(connection.status().connected());
        assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 1);
        // The next connection starts at the node that worked: the failing one is not asked.
        let again = connect(&urls)
            .await
            .expect("the second node connects again");
        assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 1);
        for c in [connection, again] {
            let _ = c.close(200, "done".into()).await;
        }
        // A list with no node that answers fails with the last node's error.
        let refused = format!("amqp://guest:guest@127.0.0.1:{failing}/%2f");
        server.abort();
        let _ = server.await;
        assert!(connect(&refused).await.is_err());
        assert!(connect(" , ").await.is_err());
    }

    #[test]
    fn a_consumer_of_some_types_is_bound_to_every_message_holding_one() {
        assert_eq!(PROJECTOR.bindings(), ["product.#"]);
        assert_eq!(
            IMAGES.bindings(),
            ["product.#.ImageAttached.#", "product.#.ImageRemoved.#"]
        );
        let attached = event("a", 2, "ImageAttached");
        assert!(IMAGES.wants(&attached));
        assert!(!IMAGES.wants(&event("a", 1, "ProductCreated")));
        assert!(PROJECTOR.wants(&attached));
    }
}
