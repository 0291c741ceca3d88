//! projector: builds Catalog's read models from the event stream.
//!
//! - [`app`]: the two long-running processes (`run`, `images`), built then run until stopped.
//! - [`config`]: settings read from the environment.
//! - [`consumer`]: consuming a work queue; one outcome per message (ack, retry, dead-letter).
//! - [`generation`]: bringing this release's read-model generation live, and `retire`.
//! - [`images`]: the image worker: renditions as a side effect of `ImageAttached`.
//! - [`read_models`]: the handler that keeps the read models.
//! - [`rebuild`] and [`verify`]: the `rebuild` and `verify` subcommands.

pub mod app;
pub mod config;
pub mod consumer;
pub mod generation;
pub mod images;
pub mod read_models;
pub mod rebuild;
pub mod refill;
pub mod sweep;
pub mod verify;
