//! command-api: Catalog's write side. Commands arrive over HTTP and are appended as events to
//! the PostgreSQL event store.
//!
//! - [`config`]: settings read from the environment.
//! - [`app`]: building the service and running it until shutdown.
//! - [`routes`]: the HTTP contract's command routes, grouped by resource, plus health.
//! - [`extract`]: JSON bodies, request ids and `If-Match`, each rejected as problem+json.
//! - [`idempotency`]: replaying the first response to a retried `Idempotency-Key`.
//! - [`rate_limit`]: per-client limits shared by every replica through Redis.
//! - [`error`]: the one error type, mapped to HTTP in one place.
//! - [`openapi`]: the OpenAPI 3.1 document of these routes, served at `/openapi.json`.

pub mod app;
pub mod config;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod imports;
pub mod openapi;
pub mod people;
pub mod rate_limit;
pub mod respond;
pub mod routes;
pub mod state;

pub use app::Application;
pub use config::Config;
pub use state::AppState;
