//! Reading the event log: a product's events for the projector's gap healing, every product's
//! events for a replay, and the stored rows (with their metadata and hash) for history and
//! past versions. Appending is [`crate::event_store`]'s; tailing for the broker is
//! [`crate::relay`]'s.

use std::collections::BTreeMap;

use catalog_domain::{DecodeError, ProductEvent, ProductTypeEvent, Schema};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

/// One stored event of a product, as a fold needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    /// The product's id.
    pub aggregate_id: String,
    /// The product's version after this event: 1-based and consecutive per product.
    pub sequence: i64,
    /// The event's type name (`StockAdjusted`).
    pub event_type: String,
    /// Version of the payload's shape, which [`Schema::decode_product`] reads it by.
    pub event_version: String,
    /// As stored: tagged with its type (`{"StockAdjusted": {...}}`).
    pub payload: serde_json::Value,
    /// When the event was inserted.
    pub recorded_at: DateTime<Utc>,
}

impl StoredEvent {
    /// The event in today's shape.
    pub fn decode(&self, schema: &Schema) -> Result<ProductEvent, DecodeError> {
        schema.decode_product(&self.event_type, &self.event_version, self.payload.clone())
    }
}

/// One stored event with everything an auditor reads: who, when, its shape's version and its
/// link in the hash chain.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditedEvent {
    /// The product's version after this event.
    pub sequence: i64,
    /// The event's type name (`StockAdjusted`).
    pub event_type: String,
    /// As stored: tagged with its type (`{"StockAdjusted": {...}}`).
    pub payload: serde_json::Value,
    /// When the event was inserted.
    pub recorded_at: DateTime<Utc>,
    /// Who and what caused it: `actor`, `request_id`, `correlation_id`, `causation_id`, and
    /// `idempotency_key` when the request carried one.
    pub metadata: Json<BTreeMap<String, String>>,
    /// The event's stable identity (the AMQP message id on the broker).
    pub event_id: uuid::Uuid,
    /// Version of the payload's shape, which [`Schema::decode_product`] reads it by.
    pub event_version: String,
    /// SHA-256 over the event's content and the previous event's hash: its link in the
    /// product's hash chain (see [`crate::audit`]).
    pub hash: Vec<u8>,
}

/// Events of product `id` with `after < sequence <= up_to`, in order.
pub async fn read_events(
    conn: &mut PgConnection,
    id: &str,
    after: i64,
    up_to: i64,
) -> sqlx::Result<Vec<StoredEvent>> {
    sqlx::query_as(
        "SELECT aggregate_id, sequence, event_type, event_version, payload, recorded_at \
         FROM events \
         WHERE aggregate_type = 'Product' AND aggregate_id = $1 AND sequence > $2 AND sequence <= $3 \
         ORDER BY sequence",
    )
    .bind(id)
    .bind(after)
    .bind(up_to)
    .fetch_all(conn)
    .await
}

/// Events of product `id` with `after < sequence <= up_to`, with their audit columns.
pub async fn read_audited(
    pool: &PgPool,
    id: &str,
    after: i64,
    up_to: i64,
) -> sqlx::Result<Vec<AuditedEvent>> {
    sqlx::query_as(
        "SELECT sequence, event_type, payload, recorded_at, metadata, event_id, event_version, hash \
         FROM events WHERE aggregate_type = 'Product' AND aggregate_id = $1 \
           AND sequence > $2 AND sequence <= $3 \
         ORDER BY sequence",
    )
    .bind(id)
    .bind(after)
    .bind(up_to)
    .fetch_all(pool)
    .await
}

impl AuditedEvent {
    /// The event in today's shape.
    pub fn decode(&self, schema: &Schema) -> Result<ProductEvent, DecodeError> {
        schema.decode_product(&self.event_type, &self.event_version, self.payload.clone())
    }
}

/// Every product type's events, in (key, sequence) order, read in today's shape: product
/// types are few and small, so their reads fold the stream rather than keep a read model.
/// With `key`, that type's alone.
pub async fn product_type_events(
    pool: &PgPool,
    schema: &Schema,
    key: Option<&str>,
) -> anyhow::Result<Vec<(String, i64, ProductTypeEvent)>> {
    let rows: Vec<(String, i64, String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT aggregate_id, sequence, event_type, event_version, payload FROM events \
         WHERE aggregate_type = 'ProductType' AND ($1::text IS NULL OR aggregate_id = $1) \
         ORDER BY aggregate_id, sequence",
    )
    .bind(key)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(key, sequence, event_type, version, payload)| {
            let event = schema.decode_product_type(&event_type, &version, payload)?;
            Ok((key, sequence, event))
        })
        .collect()
}

/// The metadata field holding the `Idempotency-Key` of the request that stored an event: the
/// command path writes it, and a stored key is how an idempotency record is answered by its
/// event (here, and in the group's transaction, `crate::append`).
pub const IDEMPOTENCY_KEY: &str = "idempotency_key";

/// The last event a request stored, found by the actor and `Idempotency-Key` its metadata
/// carries: how a retry learns the answer of a request whose process died before keeping it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestEvent {
    /// The product the request changed.
    pub aggregate_id: String,
    /// The product's version after the request's last event: the version it would have
    /// answered with.
    pub sequence: i64,
    /// The event's type name, which decides the shape of the answer.
    pub event_type: String,
    /// The id of what the request added, which its answer names: the image's for
    /// `ImageAttached`, the variant's for `VariantAdded`.
    pub added_id: Option<String>,
}

/// The last event stored with `actor`'s `Idempotency-Key` `key`, if the request stored any.
pub async fn event_of_request(
    pool: &PgPool,
    actor: &str,
    key: &str,
) -> sqlx::Result<Option<RequestEvent>> {
    sqlx::query_as(
        "SELECT aggregate_id, sequence, event_type, \
                coalesce(payload->'ImageAttached'->>'image_id', \
                         payload->'VariantAdded'->>'variant_id') AS added_id FROM events \
         WHERE metadata ? 'idempotency_key' \
           AND metadata->>'actor' = $1 AND metadata->>'idempotency_key' = $2 \
         ORDER BY sequence DESC LIMIT 1",
    )
    .bind(actor)
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// Whether product `id` has any event at all.
pub async fn exists(pool: &PgPool, id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = 'Product' AND aggregate_id = $1)",
    )
    .bind(id)
    .fetch_one(pool)
    .await
}

/// Whether product `id` ever recorded `ImageAttached` for `image_id`.
pub async fn image_was_attached(pool: &PgPool, id: &str, image_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_id = $1 \
           AND event_type = 'ImageAttached' \
           AND payload->'ImageAttached'->>'image_id' = $2)",
    )
    .bind(id)
    .bind(image_id)
    .fetch_one(pool)
    .await
}

/// The last stored event's position (0 for an empty store) and when it was recorded.
pub async fn head(pool: &PgPool) -> sqlx::Result<(i64, Option<DateTime<Utc>>)> {
    sqlx::query_as(
        "SELECT coalesce(max(position), 0), \
                (SELECT recorded_at FROM events ORDER BY position DESC LIMIT 1) FROM events",
    )
    .fetch_one(pool)
    .await
}

/// How many product events the store holds, and the position of the last of them (0 when
/// none): what a replay in the same snapshot reads through.
pub async fn count(conn: &mut PgConnection) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT count(*), coalesce(max(position), 0) FROM events \
         WHERE aggregate_type = 'Product'",
    )
    .fetch_one(conn)
    .await
}

/// Every product's events in (product, sequence) order, through a server-side cursor, so that
/// memory holds one batch whatever the store's size. `conn` must be in a transaction (the
/// cursor's home); the caller fetches with [`ReplayCursor::next`] until it returns nothing.
pub struct ReplayCursor;

impl ReplayCursor {
    /// Declares the cursor on `conn`, which must be in a transaction; one per transaction.
    pub async fn open(conn: &mut PgConnection) -> sqlx::Result<Self> {
        sqlx::query(
            "DECLARE replay_events NO SCROLL CURSOR FOR \
             SELECT aggregate_id, sequence, event_type, event_version, payload, recorded_at \
             FROM events WHERE aggregate_type = 'Product' ORDER BY aggregate_id, sequence",
        )
        .execute(conn)
        .await?;
        Ok(Self)
    }

    /// The next `n` events; empty once every event was read.
    pub async fn next(&self, conn: &mut PgConnection, n: usize) -> sqlx::Result<Vec<StoredEvent>> {
        sqlx::query_as(&format!("FETCH {n} FROM replay_events"))
            .fetch_all(conn)
            .await
    }

    /// Closes the cursor; ending the transaction would too.
    pub async fn close(self, conn: &mut PgConnection) -> sqlx::Result<()> {
        sqlx::query("CLOSE replay_events")
            .execute(conn)
            .await
            .map(drop)
    }
}
