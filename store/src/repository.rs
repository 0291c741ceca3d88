//! The events table every aggregate shares (products and product types alike): appending
//! with the snapshot, in groups with concurrent commands' appends ([`crate::append`]),
//! reading an aggregate's events, and deciding again when another writer appended first.
//! Each aggregate's write path ([`crate::event_store`], [`crate::product_types`]) builds on
//! this one.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use catalog_domain::ProductError;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateError};
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;

use crate::append::{Append, AppendError, Appended, Grouping, Groups};

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
/// Appends go through [`crate::append`]'s groups, so concurrent commands share one commit.
pub struct EventRepository {
    reads: PostgresEventRepository,
    groups: Groups,
    snapshot_every: usize,
}

impl EventRepository {
    /// A repository on `pool`. `snapshot_every` must be the interval the event store snapshots
    /// at (at least 1): it tells which sequence a snapshot really holds. Appends are written
    /// in groups formed as `grouping` says.
    pub fn new(pool: PgPool, snapshot_every: usize, grouping: Grouping) -> Self {
        Self {
            reads: PostgresEventRepository::new(pool.clone()),
            groups: Groups::new(pool, grouping),
            snapshot_every: snapshot_every.max(1),
        }
    }

    /// Appends the events, and the snapshot when one is due, with the next group of
    /// concurrent appends ([`crate::append`]): all of them or none, committed before this
    /// returns.
    async fn write(
        &self,
        events: &[SerializedEvent],
        snapshot: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        // cqrs-es folds events into a snapshot up to the last multiple of the interval.
        let folded_up_to = last.sequence - last.sequence % self.snapshot_every;
        let snapshot = snapshot.map(|(_, state, counter)| (state, folded_up_to, counter));
        match self.groups.append(Append::new(events, snapshot)).await {
            Ok(Appended::Stored) => Ok(()),
            Ok(Appended::Lost) => Err(PersistenceError::OptimisticLockError),
            Err(err) => Err(persistence_error(err)),
        }
    }
}

fn persistence_error(err: AppendError) -> PersistenceError {
    match err.as_ref() {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        unavailable if catalog_support::db::is_unavailable(unavailable) => {
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
        self.write(events, snapshot_update).await
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

/// One attempt of a command: stored or refused, or another writer appended first.
pub(crate) enum Attempt<R> {
    /// Another writer appended first: reload and decide again.
    Conflict,
    Failed(StoreError<R>),
}

impl<R: std::error::Error> From<AggregateError<R>> for Attempt<R> {
    fn from(err: AggregateError<R>) -> Self {
        match err {
            AggregateError::AggregateConflict => Self::Conflict,
            err => Self::Failed(aggregate_error(err)),
        }
    }
}

impl<R> From<StoreError<R>> for Attempt<R> {
    fn from(err: StoreError<R>) -> Self {
        Self::Failed(err)
    }
}

/// Runs `attempt` (load, decide, append) until it is not beaten by another writer, backing off
/// between tries: a command is refused only by its rules, never by contention alone, unless
/// other writers keep winning through every retry.
pub(crate) async fn decide_until_stored<T, R, F, Fut>(attempt: F) -> Result<T, StoreError<R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<R>>>,
{
    attempt
        .retry(contention_retry())
        .when(|outcome| matches!(outcome, Attempt::Conflict))
        .notify(|_, delay| tracing::debug!(?delay, "version conflict, deciding again"))
        .await
        .map_err(|outcome| match outcome {
            Attempt::Conflict => StoreError::Contention,
            Attempt::Failed(err) => err,
        })
}

/// Every event of one aggregate, without its snapshot.
pub(crate) const LOAD_EVENTS: &str = "SELECT sequence, event_type, event_version, payload, \
       NULL::bigint AS snapshot_sequence FROM events \
     WHERE aggregate_type = $1 AND aggregate_id = $2";

/// A row of an aggregate's load (`LOAD` in [`crate::event_store`]) or of [`LOAD_EVENTS`]: a snapshot (no sequence) or an event.
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
fn contention_retry() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(2))
        .with_max_delay(Duration::from_millis(100))
        .with_max_times(60)
        .with_jitter()
}

/// The rows `sql` ([`LOAD_EVENTS`], or a load with the snapshot) reads of aggregate `id` of
/// type `A`.
pub(crate) async fn load_rows<A: Aggregate, R>(
    pool: &PgPool,
    sql: &'static str,
    id: &str,
) -> Result<Vec<LoadRow>, StoreError<R>> {
    sqlx::query_as(sql)
        .bind(A::TYPE)
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(load_error)
}

fn load_error<R>(err: sqlx::Error) -> StoreError<R> {
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
