//! An auditor of Catalog's change feed, written as a consumer outside Catalog would write it:
//! HTTP, JSON and SHA-256 only, none of Catalog's own crates, so it checks the log without
//! trusting the code that wrote it.
//!
//! - [`event`]: a feed event as it arrives, its aggregate, and its hash recomputed from the
//!   fields it carries.
//! - [`chain`]: the verifier: each aggregate's last link, and what may follow it.
//! - [`follow`]: the HTTP side: follows `GET /events/stream`, reconnecting with
//!   `Last-Event-ID`, and pages `GET /events` for the links before where it started.

pub mod chain;
pub mod event;
pub mod follow;

pub use chain::{Broken, Chain, Need};
pub use event::{Aggregate, FeedEvent};
pub use follow::{AuditError, Auditor, Follow, Report, Seen};
