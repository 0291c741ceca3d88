//! The aggregates of Catalog (Product and ProductType): what can be asked of them and what they
//! answer.
//!
//! - [`commands`]: the requests a product can be asked to carry out.
//! - [`events`]: the facts a product records, one per change; the only thing ever stored.
//! - [`product`]: the aggregate itself: `decide` turns a command into events under the rules,
//!   `apply` folds an event into state. Replaying events through `apply` is how every past
//!   version of a product is rebuilt, on the command side and the query side alike.
//! - [`details`]: the descriptive fields in one place: their values, a partial change, their
//!   names (for `DetailsUpdated.changed`, the refusal of an empty update, history), their rules.
//! - [`locale`]: locale tags, text in several locales, and which text a reader is served.
//! - [`attributes`]: attribute values, free strings or typed.
//! - [`product_type`]: the ProductType aggregate: typed attribute definitions and their
//!   compatible changes.
//! - [`schema`]: the versions of every stored event's shape and the upcasters that read older
//!   ones: every reader of the event store decodes through it.
//! - [`versions`]: today's version of each event's shape, which new events are stored with.
//! - [`fields`]: every field of a product in the order history lists its changes.
//! - [`changes`]: what an event changed, field by field, from the state before and after `apply`.
//! - [`rules`]: the field rules of the HTTP contract, checked here so every entry point shares them.
//! - [`money`]: prices in minor units with an ISO 4217 currency.
//! - [`prices`]: price lists by currency, channel and validity window, and the selection reads
//!   make (Catalog 2).
//! - [`variants`]: a product's variants, the master first: their SKUs, attributes, price lists
//!   and stock (Catalog 2); `variant_commands` decides the commands on them.
//! - [`error`]: why a command was refused.
//! - [`view`]: the ProductView read models serve, mapped from the aggregate's state.
//!
//! This crate does no IO. The only async code is the `handle` signature cqrs-es requires.

pub mod attributes;
pub mod changes;
pub mod commands;
pub mod details;
pub mod error;
pub mod events;
pub mod fields;
pub mod import;
pub mod locale;
pub mod money;
pub mod prices;
pub mod product;
pub mod product_type;
pub mod rules;
pub mod schema;
mod variant_commands;
pub mod variants;
pub mod versions;
pub mod view;

pub use attributes::{AttributeValue, Attributes};
pub use changes::FieldChange;
pub use commands::{
    AttachImage, CreateProduct, ImportProduct, ImportVariant, ProductCommand, RecordImageProcessed,
};
pub use details::{Context, DetailField, Details, UpdateDetails};
pub use error::{FieldError, ProductError};
pub use events::{ImageOriginal, ProductEvent, Rendition, RENDITION_NAMES};
pub use fields::Field;
pub use import::IMPORT_REASON;
pub use locale::{Locale, LocalizedText, TextInput, Wanted};
pub use money::{currency_codes, Money};
pub use prices::Price;
pub use product::{Image, ImageStatus, Product, ProductStatus, MAX_IMAGES};
pub use product_type::{
    AttributeDefinition, AttributeKind, DefineProductType, Level, ProductType, ProductTypeError,
    ProductTypeEvent,
};
pub use schema::{DecodeError, Schema};
pub use variants::{AddVariant, Variant, MASTER, MAX_VARIANTS};
pub use view::{ImageView, ProductView, RenditionView};

/// Every stored event type's name, of every aggregate: what readers of the event log (the
/// change feed, webhook subscriptions) may filter on.
pub fn event_type_names() -> impl Iterator<Item = &'static str> {
    ProductEvent::TYPE_NAMES
        .iter()
        .chain(ProductTypeEvent::TYPE_NAMES)
        .copied()
}

/// Whether `name` is a stored event type's name.
pub fn is_event_type(name: &str) -> bool {
    event_type_names().any(|known| known == name)
}
