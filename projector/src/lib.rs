//! projector: builds Catalog's read models from the event stream.
//!
//! - [`audit`]: recomputing the events' hash chains to find tampering.
//! - [`config`]: settings read from the environment.
//! - [`consumer`]: consuming a work queue; one outcome per message (ack, retry, dead-letter).
//! - [`images`]: the image worker: renditions as a side effect of `ImageAttached`.
//! - [`read_models`]: the handler that keeps the read models.
//! - [`postgres`]: the PostgreSQL read model and the fold shared by every path.
//! - [`replay`]: streaming all events product by product.
//! - [`rebuild`] and [`verify`]: the `rebuild` and `verify` subcommands.
//! - [`error`]: transient versus permanent failures.

pub mod audit;
pub mod config;
pub mod consumer;
pub mod error;
pub mod images;
pub mod postgres;
pub mod read_models;
pub mod rebuild;
pub mod refill;
pub mod replay;
pub mod sweep;
pub mod verify;
