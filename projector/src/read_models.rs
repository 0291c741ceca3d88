//! The read-model handler: each event goes to PostgreSQL, then its resulting document to Redis.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use catalog_read_model::redis::RedisReadModel;
use catalog_store::broker::{ConsumerSpec, WireEvent, PROJECTOR};

use crate::consumer::{Consumer, Handler, Stats};
use catalog_read_model::error::ApplyError;
use catalog_read_model::postgres::{Applied, PgReadModel};
use catalog_store::log::StoredEvent;

/// The projector's [`Handler`]: writes each event to both read models.
pub struct ReadModels {
    /// Applied first, with its version check: the source of truth for Redis and for a refill.
    pub postgres: PgReadModel,
    /// Receives the document PostgreSQL produced.
    pub redis: RedisReadModel,
    /// Where events applied and skipped (already applied) are counted.
    pub stats: Arc<Stats>,
}

/// The projector: the read models, consumed in order, in batches of what has arrived.
pub type Projector = Consumer<ReadModels>;

impl Handler for ReadModels {
    fn spec(&self) -> ConsumerSpec {
        PROJECTOR
    }

    /// Applies to PostgreSQL, then mirrors the resulting view into Redis. Redis is written
    /// even when PostgreSQL already had the event: a redelivery after a Redis failure must
    /// still bring Redis up to date.
    async fn handle(&self, event: &WireEvent) -> Result<(), ApplyError> {
        let view = match self.postgres.apply(stored(event)).await? {
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

    /// Prefetched messages beyond this wait for the next batch.
    fn batch_limit(&self) -> usize {
        BATCH_LIMIT
    }

    /// One PostgreSQL transaction and one Redis pipeline for the whole batch: at a few hundred
    /// events a second, a commit per event is what would hold the projection back.
    async fn handle_batch(&self, events: &[WireEvent]) -> Result<(), ApplyError> {
        let outcomes = self
            .postgres
            .apply_batch(events.iter().map(stored).collect())
            .await?;
        let mut views = Vec::with_capacity(outcomes.len());
        for (outcome, count) in outcomes {
            let (counter, view) = match outcome {
                Applied::Applied(view) => (&self.stats.applied, Some(view)),
                Applied::Skipped(view) => (&self.stats.skipped, view),
            };
            counter.fetch_add(count as u64, Ordering::Relaxed);
            views.extend(view);
        }
        self.redis
            .put_many(&views)
            .await
            .map_err(|e| ApplyError::Transient(anyhow::Error::new(e).context("Redis")))
    }
}

const BATCH_LIMIT: usize = 256;

fn stored(event: &WireEvent) -> StoredEvent {
    StoredEvent {
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
        event_type: event.event_type.clone(),
        event_version: event.event_version.clone(),
        payload: event.payload.clone(),
        recorded_at: event.recorded_at,
    }
}
