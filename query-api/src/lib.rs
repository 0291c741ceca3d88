//! query-api: Catalog's read side.
//!
//! - [`config`]: settings read from the environment.
//! - [`app`]: building the service and running it until shutdown.
//! - [`routes`]: products (by id, lists), product types, the audit routes (history, past
//!   versions) and the change feed.
//! - [`feed`]: the change feed's Server-Sent Event streams: reading ahead, bounded buffers,
//!   per-token limits.
//! - [`locale`]: which locale a reader wants (`?locale=`, `Accept-Language`).
//! - [`reader`]: one product from the local cache, Redis, then PostgreSQL with single-flight loads.
//! - [`generations`]: following the live read-model generation (Redis; PostgreSQL reads go
//!   through the live views).
//! - [`local_cache`]: the products read recently, as JSON bytes, kept coherent by announcements.
//! - [`versions`]: read-your-writes waits on the projector's version announcements.
//! - [`console`]: the web console, its files compiled into the binary.
//! - [`error`]: the one error type, mapped to HTTP in one place.
//! - [`openapi`]: the OpenAPI 3.1 document of these routes, served at `/openapi.json`.

pub mod app;
pub mod config;
pub mod console;
pub mod error;
pub mod feed;
pub mod generations;
pub mod local_cache;
pub mod locale;
pub mod openapi;
pub mod pipeline;
pub mod prices;
pub mod reader;
pub mod routes;
pub mod state;
pub mod versions;

pub use app::Application;
pub use config::Config;
pub use state::AppState;
