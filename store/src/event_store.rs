//! The write path: load a product from the event store, decide, append, retry on contention.
//!
//! cqrs-es's `CqrsFramework::execute` returns no version and runs its queries after the commit,
//! where a crash loses them; the HTTP contract answers every command with the new version and
//! the relay is the only path to the read side. So commands drive the `EventStore` trait here.
//!
//! A store may keep the products its commands last touched in memory ([`ProductStore::caching`]),
//! so that a command on a warm product costs no read. The cache is never trusted to be current:
//! another process (a second command-api, the image worker) may have appended since. What makes
//! that safe is the append itself: it takes the next sequence under a unique key, so an append
//! decided on a stale state loses like any other race, is forgotten and decided again on the
//! stored state. Only appends can be proven that way, so every other outcome decided on a
//! cached state (a refusal, a failed `If-Match`, nothing to do) is decided again on the stored
//! state before it is answered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use catalog_domain::{Context, Product, ProductCommand, ProductType, Schema};
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, EventEnvelope, EventStore};
use moka::ops::compute::Op;
use sqlx::PgPool;

use crate::append::Grouping;
use crate::product_types::ProductTypeStore;
use crate::repository::{
    decide_until_stored, load_rows, Attempt, EventRepository, LoadRow, StoreError, LOAD_EVENTS,
};

/// The result of a command: the product's version afterwards and the events it stored (none
/// when the command changed nothing).
#[derive(Debug)]
pub struct Committed {
    /// The product's version after the command: its last event's sequence.
    pub version: u64,
    /// The events stored, in sequence order.
    pub events: Vec<EventEnvelope<Product>>,
}

/// The products' write path: [`ProductStore::execute`] loads, decides, appends and retries on
/// contention, then wakes the relays. One per process, shared by its requests.
pub struct ProductStore {
    store: PersistedEventStore<EventRepository, Product>,
    pool: PgPool,
    schema: Schema,
    types: ProductTypeStore,
    appended: AppendSignal,
    snapshot_every: usize,
    /// Products as this store's last commands left them; `None` when not caching.
    cache: Option<moka::sync::Cache<String, Arc<Cached>>>,
}

/// A product as the last command in this process stored it.
struct Cached {
    product: Product,
    /// Its version: the sequence of its last event.
    sequence: usize,
    /// The snapshot counter cqrs-es carries (how many snapshots were taken).
    snapshot: Option<usize>,
}

/// The channel [`AppendSignal`] notifies on after events are appended.
const APPENDED: &str = "catalog_events";

/// A listener woken after events are appended (by any writer using [`ProductStore`]): what the
/// relay, the change feed's streams and the webhook dispatcher wait on between their polls. A
/// notification says only "look again": they may be lost or merged, never the only trigger.
pub async fn listen_for_appends(pool: &PgPool) -> sqlx::Result<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(APPENDED).await?;
    Ok(listener)
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
                    if let Err(err) = sqlx::query("SELECT pg_notify($1, '')")
                        .bind(APPENDED)
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
            store: Self::event_store(&pool, snapshot_every, Grouping::default()),
            appended: AppendSignal::new(pool.clone()),
            types: ProductTypeStore::new(pool.clone(), schema.clone()),
            pool,
            schema,
            snapshot_every: snapshot_every.max(1),
            cache: None,
        }
    }

    /// Writes appends in groups formed as `grouping` says (rather than the default).
    #[must_use]
    pub fn grouped(mut self, grouping: Grouping) -> Self {
        self.store = Self::event_store(&self.pool, self.snapshot_every, grouping);
        self
    }

    fn event_store(
        pool: &PgPool,
        snapshot_every: usize,
        grouping: Grouping,
    ) -> PersistedEventStore<EventRepository, Product> {
        PersistedEventStore::new_snapshot_store(
            EventRepository::new(pool.clone(), snapshot_every, grouping),
            snapshot_every,
        )
    }

    /// Keeps up to `products` products in memory as this store's commands leave them (none when
    /// 0), least recently used out first; see the module's doc for why a stale one is harmless.
    #[must_use]
    pub fn caching(mut self, products: u64) -> Self {
        self.cache = (products > 0).then(|| moka::sync::Cache::new(products));
        self
    }

    /// The cached product `id` as a load would give it, if this store holds it.
    fn cached(&self, id: &str) -> Option<EventStoreAggregateContext<Product>> {
        let cached = self.cache.as_ref()?.get(id)?;
        Some(EventStoreAggregateContext {
            aggregate_id: id.to_string(),
            aggregate: cached.product.clone(),
            current_sequence: cached.sequence,
            current_snapshot: cached.snapshot,
        })
    }

    /// Keeps `cached` for product `id` unless a later version is held already: two commands on
    /// one product may finish in either order.
    fn remember(&self, id: &str, cached: Cached) {
        let Some(cache) = &self.cache else { return };
        cache
            .entry(id.to_string())
            .and_compute_with(|held| match held {
                Some(held) if held.value().sequence >= cached.sequence => Op::Nop,
                _ => Op::Put(Arc::new(cached)),
            });
    }

    fn forget(&self, id: &str) {
        if let Some(cache) = &self.cache {
            cache.invalidate(id);
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
            ProductCommand::Import(import) if !product.exists() => import.product_type.as_deref(),
            ProductCommand::Import(_) => product.product_type.as_deref(),
            ProductCommand::UpdateDetails(update) if update.attributes.is_some() => {
                product.product_type.as_deref()
            }
            ProductCommand::AddVariant(_) | ProductCommand::ChangeVariant { .. } => {
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
        self.check_against(&Product::default(), command).await
    }

    /// Checks `command` against product `id` as it stands, writing nothing: how a new
    /// variant is checked before its SKU is reserved. The command may still be refused when
    /// it runs, if the product changes in between.
    pub async fn check(&self, id: &str, command: &ProductCommand) -> Result<(), StoreError> {
        let (product, _) = self.load(id).await?;
        self.check_against(&product, command).await
    }

    async fn check_against(
        &self,
        product: &Product,
        command: &ProductCommand,
    ) -> Result<(), StoreError> {
        self.decide_on(product, command).await.map(drop)
    }

    /// The events `command` would make on `product` as it stands, writing nothing: an
    /// import's dry run counts with it.
    pub async fn decide_on(
        &self,
        product: &Product,
        command: &ProductCommand,
    ) -> Result<Vec<catalog_domain::ProductEvent>, StoreError> {
        let product_type = self.type_for(product, command).await?;
        let context = Context {
            product_type: product_type.as_ref(),
            default_locale: &self.schema.default_locale,
        };
        product
            .decide(command.clone(), context)
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
        let rows = load_rows::<Product, _>(&self.pool, LOAD, id).await?;
        match self.fold(id, rows)? {
            Some(context) => Ok(context),
            None => {
                // A snapshot the current code cannot read (its state's shape changed) is only a
                // lost cache: replay every event instead.
                tracing::warn!(
                    product_id = id,
                    "unreadable snapshot; replaying every event"
                );
                let rows = load_rows::<Product, _>(&self.pool, LOAD_EVENTS, id).await?;
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
            if let Some(context) = self.cached(id) {
                match self
                    .decide_and_append(context, &command, expected, metadata)
                    .await
                {
                    // Stored: the append's unique sequence proved the cached state current.
                    Ok(committed) if !committed.events.is_empty() => return Ok(committed),
                    // Lost to another writer, or an append whose outcome is unknown: never
                    // decided again here (a commit whose answer was lost would run twice).
                    Err(
                        outcome @ (Attempt::Conflict
                        | Attempt::Failed(
                            StoreError::Unavailable | StoreError::Internal(_),
                        )),
                    ) => {
                        self.forget(id);
                        return Err(outcome);
                    }
                    // Refused, a failed If-Match, or nothing to do: perhaps only on a state
                    // another process has moved on from. Decided again on the stored one.
                    _ => self.forget(id),
                }
            }
            let context = self.load_context(id).await?;
            self.decide_and_append(context, &command, expected, metadata)
                .await
        };
        let name = command.name();
        let started = Instant::now();
        let result = decide_until_stored(attempt).await;
        record(name, started, &result);
        result
    }

    /// Runs `command` on product `id`, which the caller knows to be new (its id was just made,
    /// its SKUs reserved for it): decided on the empty state without a load. Should the id hold
    /// events after all, the append loses and the command runs as [`Self::execute`] runs it.
    pub async fn execute_new(
        &self,
        id: &str,
        command: ProductCommand,
        metadata: &HashMap<String, String>,
    ) -> Result<Committed, StoreError> {
        let context = EventStoreAggregateContext {
            aggregate_id: id.to_string(),
            aggregate: Product::default(),
            current_sequence: 0,
            current_snapshot: None,
        };
        let started = Instant::now();
        let name = command.name();
        let result = match self
            .decide_and_append(context, &command, None, metadata)
            .await
        {
            Ok(committed) => Ok(committed),
            // `execute` records its own outcome.
            Err(Attempt::Conflict) => return self.execute(id, command, None, metadata).await,
            Err(Attempt::Failed(err)) => Err(err),
        };
        record(name, started, &result);
        result
    }

    /// One attempt at `command` on `context`: check `If-Match`, decide, append, and keep the
    /// product's new state when caching.
    async fn decide_and_append(
        &self,
        context: EventStoreAggregateContext<Product>,
        command: &ProductCommand,
        expected: Option<u64>,
        metadata: &HashMap<String, String>,
    ) -> Result<Committed, Attempt<catalog_domain::ProductError>> {
        let current = context.current_sequence as u64;
        if expected.is_some_and(|version| version != current) && current > 0 {
            return Err(Attempt::Failed(StoreError::PreconditionFailed { current }));
        }
        let product_type = self.type_for(&context.aggregate, command).await?;
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
        // What the cache keeps afterwards: the state before, the new events applied below,
        // and cqrs-es's snapshot counter moved on when this append takes a snapshot.
        let before = self.cache.is_some().then(|| {
            let snapshots = self.snapshot_every - context.current_sequence % self.snapshot_every
                <= events.len();
            let snapshot = match (snapshots, context.current_snapshot) {
                (true, counter) => Some(counter.map_or(1, |n| n + 1)),
                (false, counter) => counter,
            };
            (context.aggregate.clone(), snapshot)
        });
        let id = context.aggregate_id.clone();
        match self.store.commit(events, context, metadata.clone()).await {
            Ok(events) => {
                self.appended.appended();
                let version = events.last().map_or(current, |e| e.sequence as u64);
                if let Some((mut product, snapshot)) = before {
                    for event in &events {
                        product.apply(event.payload.clone());
                    }
                    self.remember(
                        &id,
                        Cached {
                            product,
                            sequence: version as usize,
                            snapshot,
                        },
                    );
                }
                Ok(Committed { version, events })
            }
            Err(err) => {
                self.forget(&id);
                Err(err.into())
            }
        }
    }
}

/// Counts a command's outcome and times it (`catalog_commands_total`,
/// `catalog_command_duration_seconds`).
fn record(name: &'static str, started: Instant, result: &Result<Committed, StoreError>) {
    let outcome = match result {
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

#[derive(serde::Deserialize)]
struct SnapshotRow {
    aggregate: Product,
    current_snapshot: usize,
}
