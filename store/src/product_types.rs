//! The product types' write path: load a type from the event store, decide, append, retry on
//! contention. Types live in the same event store as products (aggregate type `ProductType`,
//! the key as its id), under the same hash chain, and are published by the relay like every
//! event.

use std::collections::HashMap;

use catalog_domain::{DefineProductType, ProductType, ProductTypeError, Schema};
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, EventStore};
use sqlx::PgPool;

use crate::append::Grouping;
use crate::repository::{
    decide_until_stored, load_rows, Attempt, EventRepository, StoreError, LOAD_EVENTS,
};

/// What defining a type did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defined {
    /// The type's version afterwards: its last event's sequence.
    pub version: u64,
    /// Whether the type was created by this definition (201 rather than 200).
    pub created: bool,
    /// The type as defined now.
    pub product_type: ProductType,
}

/// Loads and defines product types. One per process, shared by its requests.
pub struct ProductTypeStore {
    store: PersistedEventStore<EventRepository, ProductType>,
    pool: PgPool,
    schema: Schema,
}

impl ProductTypeStore {
    /// A store on `pool`; types are never snapshotted (a handful of events each).
    pub fn new(pool: PgPool, schema: Schema) -> Self {
        Self {
            store: PersistedEventStore::new_event_store(EventRepository::new(
                pool.clone(),
                1,
                Grouping::default(),
            )),
            pool,
            schema,
        }
    }

    /// The type `key` and its version; an empty type at version 0 when it was never defined.
    pub async fn load(
        &self,
        key: &str,
    ) -> Result<(ProductType, u64), StoreError<ProductTypeError>> {
        let context = self.load_context(key).await?;
        Ok((context.aggregate, context.current_sequence as u64))
    }

    async fn load_context(
        &self,
        key: &str,
    ) -> Result<EventStoreAggregateContext<ProductType>, StoreError<ProductTypeError>> {
        let mut rows = load_rows::<ProductType, _>(&self.pool, LOAD_EVENTS, key).await?;
        rows.sort_unstable_by_key(|row| row.sequence);
        let mut context = EventStoreAggregateContext {
            aggregate_id: key.to_string(),
            aggregate: ProductType::default(),
            current_sequence: 0,
            current_snapshot: None,
        };
        for row in rows {
            let event = self
                .schema
                .decode_product_type(
                    row.event_type.as_deref().unwrap_or_default(),
                    row.event_version.as_deref().unwrap_or("1"),
                    row.payload,
                )
                .map_err(|err| StoreError::Internal(anyhow::Error::new(err)))?;
            context.aggregate.apply(event);
            context.current_sequence = row.sequence.unwrap_or_default() as usize;
        }
        Ok(context)
    }

    /// Defines the type as `define` says: created the first time, changed compatibly after,
    /// nothing written when it is already so. Losing a race to another writer decides again on
    /// the new state.
    pub async fn define(
        &self,
        define: DefineProductType,
        metadata: &HashMap<String, String>,
    ) -> Result<Defined, StoreError<ProductTypeError>> {
        let attempt = || async {
            let context = self.load_context(&define.key).await?;
            let current = context.current_sequence as u64;
            let events = context
                .aggregate
                .decide(define.clone())
                .map_err(|e| Attempt::Failed(StoreError::Refused(e)))?;
            if events.is_empty() {
                return Ok(Defined {
                    version: current,
                    created: false,
                    product_type: context.aggregate,
                });
            }
            let mut product_type = context.aggregate.clone();
            for event in &events {
                product_type.apply(event.clone());
            }
            match self.store.commit(events, context, metadata.clone()).await {
                Ok(stored) => Ok(Defined {
                    version: stored.last().map_or(current, |e| e.sequence as u64),
                    created: current == 0,
                    product_type,
                }),
                Err(err) => Err(err.into()),
            }
        };
        decide_until_stored(attempt).await
    }
}
