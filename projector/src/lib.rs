//! projector: builds Catalog's read models from the event stream, and delivers it outside.
//!
//! - [`app`]: the long-running processes (`run`, `images`, `webhooks`), built then run until
//!   stopped.
//! - [`config`]: settings read from the environment.
//! - [`consumer`]: consuming a work queue; one outcome per message (ack, retry, dead-letter).
//! - [`generation`]: bringing this release's read-model generation live, and `retire`.
//! - [`images`]: the image worker: renditions as a side effect of `ImageAttached`.
//! - [`read_models`]: the handler that keeps the read models.
//! - [`rebuild`] and [`verify`]: the `rebuild` and `verify` subcommands.
//! - [`refill`]: refilling Redis when it comes back empty.
//! - [`sweep`]: removing the originals of uploads that were never attached.
//! - [`webhooks`]: the webhook dispatcher: the change feed, in order, to every subscription.

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
pub mod webhooks;
