//! The change feed: every stored event in position order, for readers outside Catalog
//! (`GET /events`, its SSE stream, the webhook dispatcher).
//!
//! Positions are handed out when a row is inserted, not when its transaction commits, so the
//! rows visible past a position are not final: a transaction still running may hold a lower
//! position and commit after a reader has moved past it. The relay avoids that by reading in
//! commit-safe (transaction id, position) order; the feed promises position order, so it holds
//! a page back instead, ending it before the first event that such a transaction could still
//! precede:
//!
//! 1. First, in a statement of its own, the feed notes `s0`: the start of the oldest
//!    transaction that holds a transaction id (`pg_stat_activity.xact_start`), or the
//!    statement's own start when none does.
//! 2. Then it reads the events past the cursor and keeps those inserted before `s0`
//!    (`recorded_at < s0`), stopping at the first that is not.
//!
//! Why that is enough: an event E with `recorded_at < s0` got its position before `s0`
//! (`recorded_at` is set after the position on insert). Any lower position was taken even
//! earlier, by a transaction that had begun before `s0`. Had that transaction still held an
//! id at step 1, `s0` would be no later than its start; so it had ended, and step 2, which
//! comes later, sees its rows or they never exist. A writer takes its transaction id before
//! its first position (the `events_take_transaction_id` statement trigger), so a transaction
//! without an id at step 1 can only take positions after step 1, above everything step 2
//! returns.
//!
//! What that needs from the database: the role must see other sessions' `xact_start` (the
//! same role as the writers, or `pg_read_all_stats`), and `track_activities` must be on; a
//! reader that cannot see is refused ([`FeedError::Blind`]) rather than allowed to skip.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgPool;

/// The most events one page holds.
pub const PAGE_MAX: i64 = 1000;

/// What to read: the events past `after`, at most `limit`, of some types or one product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedQuery {
    /// Only events with a higher position.
    pub after: i64,
    /// At most this many, 1 to [`PAGE_MAX`].
    pub limit: i64,
    /// Only these event types (`StockAdjusted`); empty for all.
    pub types: Vec<String>,
    /// Only this product's events.
    pub product_id: Option<String>,
}

impl FeedQuery {
    /// Whether an event belongs to this query's selection (its filters, not its window).
    pub fn selects(&self, event: &FeedEvent) -> bool {
        (self.types.is_empty() || self.types.contains(&event.event_type))
            && self
                .product_id
                .as_ref()
                .is_none_or(|id| event.product_id.as_ref() == Some(id))
    }
}

/// One event as outside consumers receive it: its place in the feed, its product, its data as
/// stored and its link in the product's hash chain.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedEvent {
    /// Its place in the feed: unique, increasing in the order events were stored.
    pub position: i64,
    /// The product it belongs to; `null` for an event of another aggregate (a product type).
    pub product_id: Option<String>,
    /// `Product` or `ProductType`.
    #[cfg_attr(feature = "openapi", schema(example = "Product"))]
    pub aggregate_type: String,
    /// The aggregate's id: the product's id, or the product type's key.
    pub aggregate_id: String,
    /// The aggregate's version after this event, from 1.
    pub sequence: i64,
    /// The event type.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(example = "StockAdjusted"))]
    pub event_type: String,
    /// The version of the event type's shape.
    #[cfg_attr(feature = "openapi", schema(example = "1"))]
    pub event_version: String,
    /// The event's data exactly as stored (PostgreSQL's text of the `jsonb`, which the hash
    /// covers).
    #[serde(rename = "data")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Box<RawValue>,
    /// When it was stored.
    pub recorded_at: DateTime<Utc>,
    /// Who made the change: the token's subject.
    pub actor: Option<String>,
    /// The request (or chain of requests) it came from.
    pub correlation_id: Option<String>,
    /// What caused it.
    pub causation_id: Option<String>,
    /// The event's stable id.
    pub event_id: uuid::Uuid,
    /// Every metadata field as stored (actor, ids, idempotency key), which the hash covers.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Box<RawValue>,
    /// SHA-256 of this event chained to the previous event of the same aggregate, hex.
    #[serde(serialize_with = "hex_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{64}$"))]
    pub hash: Vec<u8>,
}

/// Serializes a stored hash as lowercase hex, as every read shows it (the feed, a product's
/// history): `#[serde(serialize_with = "catalog_store::feed::hex_bytes")]`.
pub fn hex_bytes<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

#[derive(sqlx::FromRow)]
struct Row {
    position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
    fields: Json<BTreeMap<String, serde_json::Value>>,
    recorded_at: DateTime<Utc>,
    event_id: uuid::Uuid,
    hash: Vec<u8>,
    settled: bool,
}

impl Row {
    fn into_event(self) -> Result<FeedEvent, FeedError> {
        let text = |name: &str| {
            self.fields
                .get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Ok(FeedEvent {
            product_id: (self.aggregate_type == "Product").then(|| self.aggregate_id.clone()),
            actor: text("actor"),
            correlation_id: text("correlation_id"),
            causation_id: text("causation_id"),
            position: self.position,
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            sequence: self.sequence,
            event_type: self.event_type,
            event_version: self.event_version,
            payload: RawValue::from_string(self.payload).map_err(FeedError::Stored)?,
            metadata: RawValue::from_string(self.metadata).map_err(FeedError::Stored)?,
            recorded_at: self.recorded_at,
            event_id: self.event_id,
            hash: self.hash,
        })
    }
}

/// One page of the feed.
#[derive(Debug, Default)]
pub struct Page {
    /// The events, in position order, none of which a late commit can still precede.
    pub events: Vec<FeedEvent>,
    /// Whether the page stopped early at an event that is visible but not yet final: reading
    /// again shortly returns it.
    pub held_back: bool,
}

impl Page {
    /// Where the next page starts: the last event's position, or `after` when there is none.
    pub fn next_after(&self, after: i64) -> i64 {
        self.events.last().map_or(after, |e| e.position)
    }
}

/// Why a page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The database could not be read.
    #[error("reading the change feed: {0}")]
    Database(#[from] sqlx::Error),
    /// The role cannot see other sessions' transactions, so no event can be shown to be final.
    #[error(
        "the change feed cannot see other sessions' transactions: grant the role \
         pg_read_all_stats (or use the writers' role) and keep track_activities on"
    )]
    Blind,
    /// A stored row is not valid JSON (cannot happen for `jsonb`).
    #[error("a stored event is unreadable: {0}")]
    Stored(serde_json::Error),
}

/// The events past `query.after` that no late commit can precede, in position order.
pub async fn page(pool: &PgPool, query: &FeedQuery) -> Result<Page, FeedError> {
    let horizon = horizon(pool).await?;
    let limit = query.limit.clamp(1, PAGE_MAX);
    let select = "SELECT position, aggregate_type, aggregate_id, sequence, event_type, \
                  event_version, payload::text AS payload, metadata::text AS metadata, \
                  metadata AS fields, recorded_at, event_id, hash, recorded_at < $2 AS settled";
    let sql = match (&query.product_id, query.types.is_empty()) {
        // One product: its events in sequence order (the primary key), which is their
        // position order, since each is stored after the one before it committed.
        (Some(_), _) => format!(
            "{select} FROM events \
             WHERE aggregate_type = 'Product' AND aggregate_id = $4 AND position > $1 \
               AND (cardinality($5::text[]) = 0 OR event_type = ANY($5)) \
             ORDER BY sequence LIMIT $3"
        ),
        (None, true) => {
            format!("{select} FROM events WHERE position > $1 ORDER BY position LIMIT $3")
        }
        // Some types: each type's next events through the (event_type, position) index, then
        // merged, so a rare type costs a few index probes however deep the cursor is.
        (None, false) => format!(
            "SELECT e.* FROM unnest($4::text[]) AS t(event_type) \
             CROSS JOIN LATERAL ({select} FROM events \
                 WHERE event_type = t.event_type AND position > $1 \
                 ORDER BY position LIMIT $3) e \
             ORDER BY e.position LIMIT $3"
        ),
    };
    let statement = sqlx::query_as::<_, Row>(&sql)
        .bind(query.after)
        .bind(horizon)
        .bind(limit);
    let statement = match &query.product_id {
        Some(product) => statement.bind(product).bind(&query.types),
        None if query.types.is_empty() => statement,
        None => statement.bind(&query.types),
    };
    let rows = statement.fetch_all(pool).await?;
    let mut page = Page::default();
    for row in rows {
        if !row.settled {
            page.held_back = true;
            break;
        }
        page.events.push(row.into_event()?);
    }
    Ok(page)
}

/// The position of the last event stored: where a feed that wants only what comes next starts.
pub async fn head(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(pool)
        .await
}

/// `s0` of the module's description: no transaction that began before it is still running.
/// Only this database's sessions count: no other can write its `events`.
/// A prepared (two-phase) transaction took its positions at some unknown time before it was
/// prepared, so while one is pending nothing is final; Catalog itself never prepares one.
/// A read-only snapshot of the whole database and the position it is complete up to: every
/// event at or below the position is visible in it, and will never be joined by another
/// (what the export reads). The horizon is noted first, in a statement of its own, and the
/// snapshot taken after it, so the argument at the top of this module holds with the
/// snapshot as its step 2; the position is the highest an event inserted before the horizon
/// holds. Events past it may be visible too; a reader of the snapshot leaves them out.
pub async fn settled_snapshot(
    pool: &PgPool,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, i64), FeedError> {
    let horizon = horizon(pool).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    // From the newest position down: past the horizon there are only the last moments' events.
    let position: Option<i64> = sqlx::query_scalar(
        "SELECT position FROM events WHERE recorded_at < $1 ORDER BY position DESC LIMIT 1",
    )
    .bind(horizon)
    .fetch_optional(&mut *tx)
    .await?;
    Ok((tx, position.unwrap_or(0)))
}

async fn horizon(pool: &PgPool) -> Result<DateTime<Utc>, FeedError> {
    let (horizon, blind): (DateTime<Utc>, bool) = sqlx::query_as(
        "SELECT least(statement_timestamp(), \
                      min(xact_start) FILTER (WHERE backend_xid IS NOT NULL), \
                      (SELECT '-infinity'::timestamptz FROM pg_prepared_xacts \
                        WHERE database = current_database() LIMIT 1)), \
                current_setting('track_activities')::bool IS NOT TRUE \
                  OR bool_or(query = '<insufficient privilege>') IS TRUE \
         FROM pg_stat_activity \
         WHERE pid <> pg_backend_pid() AND datname = current_database()",
    )
    .fetch_one(pool)
    .await?;
    if blind {
        return Err(FeedError::Blind);
    }
    Ok(horizon)
}
