//! The Product aggregate of Catalog: what can be asked of a product and what it answers.
//!
//! - [`commands`]: the requests a product can be asked to carry out.
//! - [`events`]: the facts a product records, one per change; the only thing ever stored.
//! - [`product`]: the aggregate itself: `decide` turns a command into events under the rules,
//!   `apply` folds an event into state. Replaying events through `apply` is how every past
//!   version of a product is rebuilt, on the command side and the query side alike.
//! - [`details`]: the descriptive fields in one place: their values, a partial change, their
//!   names (for `DetailsUpdated.changed`, the refusal of an empty update, history), their rules.
//! - [`fields`]: every field of a product in the order history lists its changes.
//! - [`changes`]: what an event changed, field by field, from the state before and after `apply`.
//! - [`rules`]: the field rules of the HTTP contract, checked here so every entry point shares them.
//! - [`money`]: prices in minor units with an ISO 4217 currency.
//! - [`error`]: why a command was refused.
//! - [`view`]: the ProductView read models serve, mapped from the aggregate's state.
//!
//! This crate does no IO. The only async code is the `handle` signature cqrs-es requires.

pub mod changes;
pub mod commands;
pub mod details;
pub mod error;
pub mod events;
pub mod fields;
pub mod money;
pub mod product;
pub mod rules;
pub mod view;

pub use changes::FieldChange;
pub use commands::{AttachImage, CreateProduct, ProductCommand, RecordImageProcessed};
pub use details::{DetailField, Details, UpdateDetails};
pub use error::{FieldError, ProductError};
pub use events::{ImageOriginal, ProductEvent, Rendition, EVENT_VERSION, RENDITION_NAMES};
pub use fields::Field;
pub use money::{currency_codes, Money};
pub use product::{Image, ImageStatus, Product, ProductStatus, MAX_IMAGES};
pub use view::{ImageView, ProductView, RenditionView};
