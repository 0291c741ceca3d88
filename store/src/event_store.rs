//! The write path: load a product from the event store, decide, append, retry on contention.
//!
//! cqrs-es's `CqrsFramework::execute` returns no version and runs its queries after the commit,
//! where a crash loses them; the HTTP contract answers every command with the new version and
//! the relay is the only path to the read side. So commands drive the `EventStore` trait here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use catalog_domain::{Context, Product, ProductCommand, ProductError, ProductType, Schema};
use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};
use postgres_es::PostgresEventRepository;

use crate::product_types::ProductTypeStore;
use serde_json::Value;
use sqlx::PgPool;

/// Why a command was not stored. `R` is the aggregate's refusal: a [`ProductError`] for
/// products, a `ProductTypeError` for product types.
#[derive(Debug, thiserror::Error)]
pub enum StoreError<R = ProductError> {
    /// The aggregate refused the command (a rule, its state, or it does not exist).
    #[error(transparent)]
    Refused(R),
    /// The product is not at the version the caller expected (If-Match): nothing was stored.
    /// The caller re-reads the product and decides whether to send the command again.
    #[error("the product is at version {current}, not the expected one")]
    PreconditionFailed {
        /// The product's version now.
        current: u64,
    },
    /// Other writers kept winning the race for this product, through every retry: nothing was
    /// stored, and the command may be sent again.
    #[error("the product kept changing under this command")]
    Contention,
    /// PostgreSQL could not be reached: worth retrying later. A connection lost during the
    /// commit leaves unknown whether the events were stored.
    #[error("the event store is unavailable")]
    Unavailable,
    /// Anything else: an unreadable stored event or an unexpected database error. Not expected
    /// to pass on a retry; callers report it as an internal error.
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// postgres-es's repository for reads, with our own `persist`. postgres-es 0.5 commits the
/// events before it checks whether its snapshot update matched, so a lost snapshot race reports
/// an optimistic-lock error for events that were in fact stored, and a client retry would apply
/// the command twice. It also labels a snapshot with the sequence of the last event committed,
/// not of the last event folded into it. Here the snapshot is written in the same transaction,
/// labelled with the sequence it really holds, and never fails the commit: it is only a cache.
pub struct EventRepository {
    reads: PostgresEventRepository,
    pool: PgPool,
    snapshot_every: usize,
}

impl EventRepository {
    /// A repository on `pool`. `snapshot_every` must be the interval the event store snapshots
    /// at (at least 1): it tells which sequence a snapshot really holds.
    pub fn new(pool: PgPool, snapshot_every: usize) -> Self {
        Self {
            reads: PostgresEventRepository::new(pool.clone()),
            pool,
            snapshot_every,
        }
    }

    /// Appends the events, and the snapshot when one is due, in one statement: one round trip
    /// and an implicit transaction, all or nothing. The rows are inserted in sequence order,
    /// which the hash-chain trigger relies on.
    async fn write<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot: Option<(String, Value, usize)>,
    ) -> Result<(), sqlx::Error> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
        let sequences: Vec<i64> = events.iter().map(|e| e.sequence as i64).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let versions: Vec<&str> = events.iter().map(|e| e.event_version.as_str()).collect();
        let payloads: Vec<&Value> = events.iter().map(|e| &e.payload).collect();
        let metadata: Vec<&Value> = events.iter().map(|e| &e.metadata).collect();
        let query = match snapshot {
            None => sqlx::query(APPEND),
            Some(_) => sqlx::query(APPEND_WITH_SNAPSHOT),
        };
        let mut query = query
            .bind(A::TYPE)
            .bind(&ids)
            .bind(&sequences)
            .bind(&types)
            .bind(&versions)
            .bind(&payloads)
            .bind(&metadata);
        if let Some((aggregate_id, state, counter)) = snapshot {
            // cqrs-es folds events into a snapshot up to the last multiple of the interval.
            let folded_up_to = last.sequence - last.sequence % self.snapshot_every;
            query = query
                .bind(aggregate_id)
                .bind(folded_up_to as i64)
                .bind(counter as i64)
                .bind(state);
        }
        query.execute(&self.pool).await.map(|_| ())
    }
}

const APPEND: &str = "INSERT INTO events \
     (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
     SELECT $1, id, seq, ty, ver, payload, meta \
     FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[]) \
       WITH ORDINALITY AS e(id, seq, ty, ver, payload, meta, n) \
     ORDER BY n";

/// The append as a data-modifying CTE beside the snapshot's upsert: one statement, so both or
/// neither. A snapshot never moves backwards.
const APPEND_WITH_SNAPSHOT: &str = "WITH appended AS (INSERT INTO events \
     (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
     SELECT $1, id, seq, ty, ver, payload, meta \
     FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[]) \
       WITH ORDINALITY AS e(id, seq, ty, ver, payload, meta, n) \
     ORDER BY n RETURNING 1) \
     INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload) \
     VALUES ($1, $8, $9, $10, $11) \
     ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
       last_sequence = EXCLUDED.last_sequence, \
       current_snapshot = EXCLUDED.current_snapshot, \
       payload = EXCLUDED.payload \
     WHERE snapshots.last_sequence < EXCLUDED.last_sequence";

fn persistence_error(err: sqlx::Error) -> PersistenceError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        _ if catalog_support::db::is_unavailable(&err) => {
            PersistenceError::ConnectionError(Box::new(err))
        }
        _ => PersistenceError::UnknownError(Box::new(err)),
    }
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.reads.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        self.write::<A>(events, snapshot_update)
            .await
            .map_err(persistence_error)
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_all_events::<A>().await
    }
}

/// The result of a command: the product's version afterwards and the events it stored (none
/// when the command changed nothing).
#[derive(Debug)]
pub struct Committed {
    /// The product's version after the command: its last event's sequence.
    pub version: u64,
    /// The events stored, in sequence order.
    pub events: Vec<EventEnvelope<Product>>,
}

enum Attempt {
    /// Another writer appended first: reload and decide again.
    Conflict,
    Failed(StoreError),
}

/// The products' write path: [`ProductStore::execute`] loads, decides, appends and retries on
/// contention, then wakes the relays. One per process, shared by its requests.
pub struct ProductStore {
    store: PersistedEventStore<EventRepository, Product>,
    pool: PgPool,
    schema: Schema,
    types: ProductTypeStore,
    retry: ExponentialBuilder,
    appended: AppendSignal,
}

/// Wakes the relays after events are appended: `NOTIFY catalog_events`, sent after the commit
/// on a connection of its own rather than from inside the appending transaction, where it would
/// serialize every commit behind PostgreSQL's notification lock (see the migration
/// `…_relay_wakeup_after_commit.sql`). At most one is in flight; appends meanwhile are covered
/// by one more. A lost one costs only latency: relays also poll.
struct AppendSignal {
    pool: PgPool,
    pending: Arc<tokio::sync::Notify>,
    sender: std::sync::OnceLock<()>,
}

impl AppendSignal {
    fn new(pool: PgPool) -> Self {
        Self {
            pool,
            pending: Arc::new(tokio::sync::Notify::new()),
            sender: std::sync::OnceLock::new(),
        }
    }

    fn appended(&self) {
        // Started on first use, inside the runtime that appends.
        self.sender.get_or_init(|| {
            let (pool, pending) = (self.pool.clone(), Arc::clone(&self.pending));
            tokio::spawn(async move {
                loop {
                    pending.notified().await;
                    if let Err(err) = sqlx::query("SELECT pg_notify('catalog_events', '')")
                        .execute(&pool)
                        .await
                    {
                        tracing::debug!(error = %err, "could not wake the relay; it will poll");
                    }
                }
            });
        });
        self.pending.notify_one();
    }
}

impl ProductStore {
    /// A store on `pool` that snapshots a product every `snapshot_every` events (at least 1):
    /// loading one reads its snapshot and only the events after it. `schema` reads stored
    /// events of older shapes and holds the locale plain texts are in.
    pub fn new(pool: PgPool, snapshot_every: usize, schema: Schema) -> Self {
        Self {
            store: PersistedEventStore::new_snapshot_store(
                EventRepository::new(pool.clone(), snapshot_every),
                snapshot_every,
            ),
            appended: AppendSignal::new(pool.clone()),
            types: ProductTypeStore::new(pool.clone(), schema.clone()),
            pool,
            schema,
            retry: contention_retry(),
        }
    }

    /// The product types beside the products, whose definitions check typed attributes.
    pub fn types(&self) -> &ProductTypeStore {
        &self.types
    }

    /// The definition a command is checked against: the type a create names, or the
    /// product's own type when an update replaces its attributes. `None` when the command
    /// needs none, or the named type does not exist.
    async fn type_for(
        &self,
        product: &Product,
        command: &ProductCommand,
    ) -> Result<Option<ProductType>, StoreError> {
        let key = match command {
            ProductCommand::Create(create) => create.product_type.as_deref(),
            ProductCommand::UpdateDetails(update) if update.attributes.is_some() => {
                product.product_type.as_deref()
            }
            _ => None,
        };
        let Some(key) = key else { return Ok(None) };
        let (product_type, _) = self.types.load(key).await.map_err(|err| match err {
            StoreError::Unavailable => StoreError::Unavailable,
            other => StoreError::Internal(anyhow::anyhow!("loading product type {key}: {other}")),
        })?;
        Ok(product_type.exists().then_some(product_type))
    }

    /// Checks `command` against a product that does not exist yet, with the definition of the
    /// type it names: how a create is checked before its SKU is reserved.
    pub async fn check_new(&self, command: &ProductCommand) -> Result<(), StoreError> {
        let product = Product::default();
        let product_type = self.type_for(&product, command).await?;
        let context = Context {
            product_type: product_type.as_ref(),
            default_locale: &self.schema.default_locale,
        };
        product
            .decide(command.clone(), context)
            .map(drop)
            .map_err(StoreError::Refused)
    }

    /// Loads the product's current state and version.
    pub async fn load(&self, id: &str) -> Result<(Product, u64), StoreError> {
        let context = self.load_context(id).await?;
        Ok((context.aggregate, context.current_sequence as u64))
    }

    /// The product as cqrs-es's `load_aggregate` would make it (its snapshot, then the events
    /// after it), in one round trip instead of two: both reads are one statement, so they also
    /// see one consistent state of the store. Events are read through the schema, so older
    /// shapes are upcast.
    async fn load_context(
        &self,
        id: &str,
    ) -> Result<EventStoreAggregateContext<Product>, StoreError> {
        let rows: Vec<LoadRow> = sqlx::query_as(LOAD)
            .bind(Product::TYPE)
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(load_error)?;
        match self.fold(id, rows)? {
            Some(context) => Ok(context),
            None => {
                // A snapshot the current code cannot read (its state's shape changed) is only a
                // lost cache: replay every event instead.
                tracing::warn!(
                    product_id = id,
                    "unreadable snapshot; replaying every event"
                );
                let rows: Vec<LoadRow> = sqlx::query_as(LOAD_EVENTS)
                    .bind(Product::TYPE)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(load_error)?;
                Ok(self.fold(id, rows)?.expect("no snapshot was read"))
            }
        }
    }

    /// Folds a snapshot row and event rows into the product; `None` when the snapshot cannot
    /// be read.
    fn fold(
        &self,
        id: &str,
        rows: Vec<LoadRow>,
    ) -> Result<Option<EventStoreAggregateContext<Product>>, StoreError> {
        let mut context = EventStoreAggregateContext {
            aggregate_id: id.to_string(),
            aggregate: Product::default(),
            current_sequence: 0,
            current_snapshot: None,
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            match (row.sequence, row.snapshot_sequence) {
                (Some(sequence), _) => events.push((sequence, row)),
                (None, Some(last_sequence)) => {
                    let Ok(state) = serde_json::from_value::<SnapshotRow>(row.payload) else {
                        return Ok(None);
                    };
                    context.aggregate = state.aggregate;
                    context.current_sequence = last_sequence as usize;
                    context.current_snapshot = Some(state.current_snapshot);
                }
                (None, None) => {}
            }
        }
        events.sort_unstable_by_key(|(sequence, _)| *sequence);
        for (sequence, row) in events {
            let (event_type, version) = (row.event_type.unwrap_or_default(), row.event_version);
            let event = self
                .schema
                .decode_product(&event_type, version.as_deref().unwrap_or("1"), row.payload)
                .map_err(|err| StoreError::Internal(anyhow::Error::new(err)))?;
            context.aggregate.apply(event);
            context.current_sequence = sequence as usize;
        }
        Ok(Some(context))
    }

    /// Runs `command` against product `id`. With `expected` (If-Match), the command runs only at
    /// that version. Without it, losing a race to another writer means deciding again on the
    /// new state, so a command is refused only by the rules, never by contention alone.
    #[tracing::instrument(skip_all, fields(product_id = %id))]
    pub async fn execute(
        &self,
        id: &str,
        command: ProductCommand,
        expected: Option<u64>,
        metadata: &HashMap<String, String>,
    ) -> Result<Committed, StoreError> {
        let attempt = || async {
            let context = self.load_context(id).await.map_err(Attempt::Failed)?;
            let current = context.current_sequence as u64;
            if expected.is_some_and(|version| version != current) && current > 0 {
                return Err(Attempt::Failed(StoreError::PreconditionFailed { current }));
            }
            let product_type = self
                .type_for(&context.aggregate, &command)
                .await
                .map_err(Attempt::Failed)?;
            let decision = Context {
                product_type: product_type.as_ref(),
                default_locale: &self.schema.default_locale,
            };
            // `decide` works on a borrowed state: cqrs-es 0.5 folds the new events into the
            // context again when it snapshots, so a state already changed by `handle` would be
            // snapshotted with every event applied twice.
            let events = context
                .aggregate
                .decide(command.clone(), decision)
                .map_err(|e| Attempt::Failed(StoreError::Refused(e)))?;
            if events.is_empty() {
                return Ok(Committed {
                    version: current,
                    events: vec![],
                });
            }
            match self.store.commit(events, context, metadata.clone()).await {
                Ok(events) => {
                    self.appended.appended();
                    Ok(Committed {
                        version: events.last().map_or(current, |e| e.sequence as u64),
                        events,
                    })
                }
                Err(AggregateError::AggregateConflict) => Err(Attempt::Conflict),
                Err(err) => Err(Attempt::Failed(aggregate_error(err))),
            }
        };
        let name = command.name();
        let started = Instant::now();
        let result = attempt
            .retry(self.retry)
            .when(|outcome| matches!(outcome, Attempt::Conflict))
            .notify(|_, delay| tracing::debug!(?delay, "version conflict, deciding again"))
            .await
            .map_err(|outcome| match outcome {
                Attempt::Conflict => StoreError::Contention,
                Attempt::Failed(err) => err,
            });
        let outcome = match &result {
            Ok(committed) if committed.events.is_empty() => "unchanged",
            Ok(_) => "accepted",
            Err(StoreError::Refused(refusal)) => refusal.kind(),
            Err(StoreError::PreconditionFailed { .. }) => "precondition_failed",
            Err(StoreError::Contention) => "contention",
            Err(StoreError::Unavailable) => "unavailable",
            Err(StoreError::Internal(_)) => "error",
        };
        metrics::counter!("catalog_commands_total", "command" => name, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("catalog_command_duration_seconds", "command" => name)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

/// The snapshot (sequence NULL: its payload, its counter folded in, `last_sequence`) and the
/// events after it, in one statement.
const LOAD: &str = "SELECT NULL::bigint AS sequence, NULL::text AS event_type, \
       NULL::text AS event_version, jsonb_build_object('aggregate', payload, \
       'current_snapshot', current_snapshot) AS payload, last_sequence AS snapshot_sequence \
     FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2 \
     UNION ALL \
     SELECT sequence, event_type, event_version, payload, NULL FROM events \
     WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > coalesce( \
       (SELECT last_sequence FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2), 0)";

/// Every event of one aggregate, without its snapshot.
pub(crate) const LOAD_EVENTS: &str = "SELECT sequence, event_type, event_version, payload, \
       NULL::bigint AS snapshot_sequence FROM events \
     WHERE aggregate_type = $1 AND aggregate_id = $2";

/// A row of [`LOAD`] or [`LOAD_EVENTS`]: a snapshot (no sequence) or an event.
#[derive(sqlx::FromRow)]
pub(crate) struct LoadRow {
    pub(crate) sequence: Option<i64>,
    pub(crate) event_type: Option<String>,
    pub(crate) event_version: Option<String>,
    pub(crate) payload: Value,
    pub(crate) snapshot_sequence: Option<i64>,
}

/// The backoff between attempts when another writer appended first: contention on one
/// aggregate resolves one writer per round trip; jittered backoff spreads the losers so 32+
/// concurrent writers all get through within a second or two.
pub(crate) fn contention_retry() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(2))
        .with_max_delay(Duration::from_millis(100))
        .with_max_times(60)
        .with_jitter()
}

#[derive(serde::Deserialize)]
struct SnapshotRow {
    aggregate: Product,
    current_snapshot: usize,
}

pub(crate) fn load_error<R>(err: sqlx::Error) -> StoreError<R> {
    if catalog_support::db::is_unavailable(&err) {
        tracing::warn!(error = %err, "event store unavailable");
        StoreError::Unavailable
    } else {
        StoreError::Internal(anyhow::Error::new(err).context("loading a product"))
    }
}

pub(crate) fn aggregate_error<R: std::error::Error>(err: AggregateError<R>) -> StoreError<R> {
    match err {
        AggregateError::UserError(err) => StoreError::Refused(err),
        AggregateError::AggregateConflict => StoreError::Contention,
        AggregateError::DatabaseConnectionError(err) => {
            tracing::warn!(error = %err, "event store unavailable");
            StoreError::Unavailable
        }
        AggregateError::DeserializationError(err) => {
            StoreError::Internal(anyhow::anyhow!("stored event cannot be read: {err}"))
        }
        AggregateError::UnexpectedError(err) => {
            if catalog_support::db::chain_is_unavailable(err.as_ref()) {
                tracing::warn!(error = %err, "event store unavailable");
                StoreError::Unavailable
            } else {
                StoreError::Internal(anyhow::anyhow!("event store failed: {err}"))
            }
        }
    }
}
