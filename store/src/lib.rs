//! What Catalog stores and how it leaves: the event store, the outbox relay that publishes it,
//! the broker topology consumers bind to, and the blob store of image files.
//!
//! - [`repository`]: the events table every aggregate shares: append with the snapshot, read an
//!   aggregate's events, decide again when another writer appended first.
//! - [`append`]: group commit: concurrent commands' appends written in one statement and one
//!   transaction, each command with its own outcome.
//! - [`event_store`]: the write path: load (snapshot and events), decide, append, retry on
//!   contention; the hash chain is computed by the database on insert.
//! - [`product_types`]: the product types' write path, beside the products' in the same store.
//! - [`log`]: reading stored events: one product's, every product's (replay), with their audit
//!   columns (history, past versions).
//! - [`feed`]: the change feed: every event in position order, each page proven final (no
//!   transaction still running can commit an event before its end).
//! - [`audit`]: recomputing the hash chains to find tampering.
//! - [`leadership`]: one active process among replicas, by a PostgreSQL advisory lock (the
//!   relay, the webhook dispatcher).
//! - [`relay`]: the outbox relay publishing every stored event to RabbitMQ, in order.
//! - [`broker`]: the RabbitMQ topology (exchange, queues, shards, retries, dead letters) and the
//!   event as it travels on the broker.
//! - [`webhooks`]: webhook subscriptions and their checkpoints, the delivery signature, and
//!   the addresses a webhook may never reach.
//! - [`skus`]: the SKU registry that keeps SKUs unique across live products.
//! - [`blobs`]: the blob store of image originals and renditions (filesystem or S3).

pub mod append;
pub mod audit;
pub mod blobs;
pub mod broker;
pub mod event_store;
pub mod feed;
pub mod imports;
pub mod leadership;
pub mod log;
pub mod product_types;
pub mod relay;
pub mod repository;
pub mod skus;
pub mod webhooks;
