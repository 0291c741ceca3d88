//! Catalog's read models, written by the projector and read by query-api: the only code that
//! knows their schema.
//!
//! - [`postgres`]: the `product_view` and `product_image_view` tables, and the fold from stored
//!   events to a view that every writing path shares.
//! - [`listing`]: `GET /products`' filters, search, sort and keyset pages over `product_view`.
//! - [`facets`]: its filters on what products are (type, attributes) and its facet counts.
//! - [`facet_index`]: those counts from memory, following the view.
//! - [`redis`]: the Redis documents (one per product, version-guarded) and the refill lease.
//! - [`generation`]: the read models' generations, built beside the live one and switched to
//!   without downtime when a release changes their shape.
//! - [`replay`]: every product folded from the event store, for rebuild and verify.
//! - [`error`]: why applying an event failed: transient, failing or permanent.

/// Why applying an event failed: transient, failing or permanent.
pub mod error;
pub mod facet_index;
pub mod facets;
pub mod generation;
pub mod listing;
pub mod postgres;
pub mod redis;
pub mod replay;
