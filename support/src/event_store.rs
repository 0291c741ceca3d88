//! The write path: load a product from the event store, decide, append, retry on contention.
//!
//! cqrs-es's `CqrsFramework::execute` returns no version and runs its queries after the commit,
//! where a crash loses them; the HTTP contract answers every command with the new version and
//! the relay is the only path to the read side. So commands drive the `EventStore` trait here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use catalog_domain::{Product, ProductCommand, ProductError};
use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;

/// Why a command was not stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The product refused the command (a rule, its state, or it does not exist).
    #[error(transparent)]
    Refused(ProductError),
    #[error("the product is at version {current}, not the expected one")]
    PreconditionFailed { current: u64 },
    /// Other writers kept winning the race for this product.
    #[error("the product kept changing under this command")]
    Contention,
    #[error("the event store is unavailable")]
    Unavailable,
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
    pub fn new(pool: PgPool, snapshot_every: usize) -> Self {
        Self {
            reads: PostgresEventRepository::new(pool.clone()),
            pool,
            snapshot_every,
        }
    }

    async fn write<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot: Option<(String, Value, usize)>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for event in events {
            sqlx::query(
                "INSERT INTO events \
                 (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(A::TYPE)
            .bind(&event.aggregate_id)
            .bind(event.sequence as i64)
            .bind(&event.event_type)
            .bind(&event.event_version)
            .bind(&event.payload)
            .bind(&event.metadata)
            .execute(&mut *tx)
            .await?;
        }
        if let (Some((aggregate_id, state, counter)), Some(last)) = (snapshot, events.last()) {
            // cqrs-es folds events into a snapshot up to the last multiple of the interval.
            let folded_up_to = last.sequence - last.sequence % self.snapshot_every;
            sqlx::query(
                "INSERT INTO snapshots \
                 (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
                   last_sequence = EXCLUDED.last_sequence, \
                   current_snapshot = EXCLUDED.current_snapshot, \
                   payload = EXCLUDED.payload \
                 WHERE snapshots.last_sequence < EXCLUDED.last_sequence",
            )
            .bind(A::TYPE)
            .bind(&aggregate_id)
            .bind(folded_up_to as i64)
            .bind(counter as i64)
            .bind(&state)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}

fn persistence_error(err: sqlx::Error) -> PersistenceError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        _ if crate::db::is_unavailable(&err) => PersistenceError::ConnectionError(Box::new(err)),
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
    pub version: u64,
    pub events: Vec<EventEnvelope<Product>>,
}

enum Attempt {
    /// Another writer appended first: reload and decide again.
    Conflict,
    Failed(StoreError),
}

pub struct ProductStore {
    store: PersistedEventStore<EventRepository, Product>,
    retry: ExponentialBuilder,
}

impl ProductStore {
    pub fn new(pool: PgPool, snapshot_every: usize) -> Self {
        Self {
            store: PersistedEventStore::new_snapshot_store(
                EventRepository::new(pool, snapshot_every),
                snapshot_every,
            ),
            // Contention on one product resolves one writer per round trip; jittered backoff
            // spreads the losers so 32+ concurrent writers all get through within a second or two.
            retry: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(2))
                .with_max_delay(Duration::from_millis(100))
                .with_max_times(60)
                .with_jitter(),
        }
    }

    /// Loads the product's current state and version.
    pub async fn load(&self, id: &str) -> Result<(Product, u64), StoreError> {
        let context = self
            .store
            .load_aggregate(id)
            .await
            .map_err(aggregate_error)?;
        Ok((context.aggregate, context.current_sequence as u64))
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
            let context = self
                .store
                .load_aggregate(id)
                .await
                .map_err(|e| Attempt::Failed(aggregate_error(e)))?;
            let current = context.current_sequence as u64;
            if expected.is_some_and(|version| version != current) && current > 0 {
                return Err(Attempt::Failed(StoreError::PreconditionFailed { current }));
            }
            // `decide` works on a borrowed state: cqrs-es 0.5 folds the new events into the
            // context again when it snapshots, so a state already changed by `handle` would be
            // snapshotted with every event applied twice.
            let events = context
                .aggregate
                .decide(command.clone())
                .map_err(|e| Attempt::Failed(StoreError::Refused(e)))?;
            if events.is_empty() {
                return Ok(Committed {
                    version: current,
                    events: vec![],
                });
            }
            match self.store.commit(events, context, metadata.clone()).await {
                Ok(events) => Ok(Committed {
                    version: events.last().map_or(current, |e| e.sequence as u64),
                    events,
                }),
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

fn aggregate_error(err: AggregateError<ProductError>) -> StoreError {
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
            if crate::db::chain_is_unavailable(err.as_ref()) {
                tracing::warn!(error = %err, "event store unavailable");
                StoreError::Unavailable
            } else {
                StoreError::Internal(anyhow::anyhow!("event store failed: {err}"))
            }
        }
    }
}
