//! The requests a product can be asked to carry out. A command is only a request: the
//! aggregate checks it against the rules and the product's state, and answers with events or a
//! refusal.

use std::collections::BTreeMap;

use crate::attributes::Attributes;
use crate::details::UpdateDetails;
use crate::events::{ImageOriginal, Rendition};
use crate::locale::TextInput;
use crate::money::Money;
use crate::prices::Price;
use crate::variants::AddVariant;

/// What a product can be asked to do. Values arrive unchecked; the aggregate checks them.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductCommand {
    /// Create the product, as a draft; refused with `AlreadyExists` once it exists.
    Create(CreateProduct),
    /// Change some of the descriptive fields; no event when every given value is the current one.
    UpdateDetails(UpdateDetails),
    /// v1's price change: replace the master's undated price without channel in that
    /// currency, keeping the rest of its list; no event when it is the current one.
    ChangePrice(Money),
    /// Move a variant's stock level; refused with `InsufficientStock` if it would go below
    /// zero, `VariantNotFound` for a variant the product does not hold.
    AdjustStock {
        /// The variant: [`MASTER`](crate::variants::MASTER) for v1's stock.
        variant_id: String,
        /// Signed change of the stock level; must not be zero.
        delta: i64,
        /// Why, kept in history: not blank, at most [`REASON_MAX`](crate::rules::REASON_MAX)
        /// characters.
        reason: String,
    },
    /// Publish a draft; refused with `AlreadyPublished` if the product is published.
    Publish,
    /// Take a published product back to draft; refused with `NotPublished` otherwise.
    Unpublish,
    /// Archive the product for good: it accepts no command afterwards.
    Archive,
    /// Attach an uploaded image, to be processed by the image worker.
    AttachImage(AttachImage),
    /// Remove an image, whatever its status.
    RemoveImage {
        /// The image to remove.
        image_id: String,
    },
    /// Record the renditions the image worker made for an image still processing.
    RecordImageProcessed(RecordImageProcessed),
    /// Record that the image worker could not process an image still processing.
    RecordImageFailed {
        /// The image that failed.
        image_id: String,
        /// Why, for people: not blank, at most [`REASON_MAX`](crate::rules::REASON_MAX)
        /// characters.
        reason: String,
    },
    /// Add a variant beside the master.
    AddVariant(AddVariant),
    /// Replace a variant's variant-level attributes (the master's too); no event when they
    /// are the current ones.
    ChangeVariant {
        /// The variant.
        variant_id: String,
        /// The whole new set.
        attributes: Attributes,
    },
    /// Remove a variant; refused with `MasterVariant` for the master.
    RemoveVariant {
        /// The variant.
        variant_id: String,
    },
    /// Make the product what an import line describes: created with its variants when it does
    /// not exist, otherwise changed where it differs ([`ImportProduct`]); all its events are
    /// stored together. No event when nothing differs.
    Import(ImportProduct),
    /// Replace a variant's whole price list; no event when it is the current one.
    SetPrices {
        /// The variant: [`MASTER`](crate::variants::MASTER) for the product's own list.
        variant_id: String,
        /// The whole new list.
        prices: Vec<Price>,
    },
}

impl ProductCommand {
    /// The command's name as operators see it in metrics and logs: stable, snake_case.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create(_) => "create",
            Self::UpdateDetails(_) => "update_details",
            Self::ChangePrice(_) => "change_price",
            Self::AdjustStock { .. } => "adjust_stock",
            Self::Publish => "publish",
            Self::Unpublish => "unpublish",
            Self::Archive => "archive",
            Self::AttachImage(_) => "attach_image",
            Self::RemoveImage { .. } => "remove_image",
            Self::RecordImageProcessed(_) => "record_image_processed",
            Self::RecordImageFailed { .. } => "record_image_failed",
            Self::AddVariant(_) => "add_variant",
            Self::ChangeVariant { .. } => "change_variant",
            Self::RemoveVariant { .. } => "remove_variant",
            Self::SetPrices { .. } => "set_prices",
            Self::Import(_) => "import",
        }
    }
}

/// The values of a new product, as the client sent them.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateProduct {
    /// Stock-keeping unit, fixed for the product's life: 1 to
    /// [`SKU_MAX`](crate::rules::SKU_MAX) characters of
    /// [`SKU_PATTERN`](crate::rules::SKU_PATTERN). Its uniqueness among live products is held by
    /// the SKU registry beside the event store, not checked here.
    pub sku: String,
    /// The key of its product type, if it has one: its attributes are checked against it.
    pub product_type: Option<String>,
    /// Display name, plain or per locale.
    pub name: TextInput,
    /// Description, plain or per locale.
    pub description: Option<TextInput>,
    /// Category.
    pub category: Option<String>,
    /// Attributes: strings on an untyped product, typed values on a typed one.
    pub attributes: Attributes,
    /// First price.
    pub price: Money,
    /// First stock level: not negative.
    pub stock: i64,
    /// The master variant's variant-level attributes; may be empty.
    pub variant_attributes: Attributes,
}

/// An image to attach to a product, its original already stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachImage {
    /// Id of the new image; refused with `ImageAlreadyAttached` if the product holds it already.
    pub image_id: String,
    /// The uploaded file, already stored in the blob store.
    pub original: ImageOriginal,
}

/// What the image worker made of an image: recorded as `ImageProcessed`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordImageProcessed {
    /// The image processed; it must still be processing.
    pub image_id: String,
    /// Width of the original in pixels as displayed (EXIF orientation applied).
    pub width: u32,
    /// Height of the original in pixels as displayed.
    pub height: u32,
    /// BlurHash placeholder of the image, if one was computed.
    pub blurhash: Option<String>,
    /// The renditions written, keyed by name; must not be empty.
    pub renditions: BTreeMap<String, Rendition>,
}

/// A product as an import file has it: `POST /products`' fields and its variants. A field left
/// out is left as it is (on a new product, as a create leaves it); the product's variants that
/// the line does not name are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportProduct {
    /// The master's SKU: what the line is matched to a product by.
    pub sku: String,
    /// The product's type key; fixed at creation, so a line for an existing product must name
    /// the type it has.
    pub product_type: Option<String>,
    /// Display name, plain or per locale.
    pub name: TextInput,
    /// Description, plain or per locale.
    pub description: Option<TextInput>,
    /// Category.
    pub category: Option<String>,
    /// The whole attribute map.
    pub attributes: Option<Attributes>,
    /// The master's base price.
    pub price: Money,
    /// The master's stock level: an existing product's is adjusted to it.
    pub stock: Option<i64>,
    /// The master's variant-level attributes, the whole set.
    pub variant_attributes: Option<Attributes>,
    /// Variants beside the master, matched by SKU to the ones the product holds.
    pub variants: Vec<ImportVariant>,
}

/// A variant as an import line has it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportVariant {
    /// The id the variant gets if the product does not hold its SKU yet (chosen by the caller,
    /// as for [`AddVariant`]).
    pub new_id: String,
    /// Its SKU: what it is matched by.
    pub sku: String,
    /// Its variant-level attributes, the whole set.
    pub attributes: Option<Attributes>,
    /// Its whole price list.
    pub prices: Option<Vec<Price>>,
    /// Its stock level.
    pub stock: Option<i64>,
}

impl ImportProduct {
    /// Every SKU the line names, the master's first.
    pub fn skus(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.sku.as_str()).chain(self.variants.iter().map(|v| v.sku.as_str()))
    }
}
