//! projector: builds Catalog's read models from the event stream.
//!
//! - [`config`]: settings read from the environment.
//! - [`consumer`]: consumes `<ns>.projector`; one outcome per message (ack, retry, dead-letter).
//! - [`postgres`]: the PostgreSQL read model and the fold shared by every path.
//! - [`replay`]: streaming all events product by product.
//! - [`rebuild`] and [`verify`]: the `rebuild` and `verify` subcommands.
//! - [`error`]: transient versus permanent failures.

pub mod config;
pub mod consumer;
pub mod error;
pub mod postgres;
pub mod rebuild;
pub mod replay;
pub mod verify;
