//! The facts a product records, one per change, and the payload shapes they are stored in.
//! Events are the only thing ever stored: every state of a product is rebuilt from them.

use std::collections::BTreeMap;

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::attributes::Attributes;
use crate::details::Details;
use crate::money::Money;
use crate::prices::Price;

/// The rendition names of the HTTP contract, smallest first.
pub const RENDITION_NAMES: [&str; 4] = ["thumb", "small", "medium", "large"];

/// The uploaded file an image was made from, as stored in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageOriginal {
    /// Content-addressed blob key of the original bytes.
    pub key: String,
    /// Media type recognised from the bytes, never taken from the client.
    pub content_type: String,
    /// Width in pixels as displayed (EXIF orientation applied), read from the header at upload.
    pub width: u32,
    /// Height in pixels as displayed, see `width`.
    pub height: u32,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// One rendition of an image in both of its encodings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendition {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Blob key of the WebP encoding.
    pub webp_key: String,
    /// Blob key of the JPEG encoding, of the same dimensions.
    pub jpeg_key: String,
}

/// Every fact a product records. Their stored shapes are versioned per event type in
/// [`crate::schema`], which reads older ones. Events carry the values they result in (the new stock, the
/// whole new details) so that projections and audits never have to recompute rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProductEvent {
    /// The product was created, as a draft. Always its first event.
    ProductCreated {
        /// The SKU it holds for life: no later event changes it.
        sku: String,
        /// The key of its product type, fixed for life; absent for an untyped product.
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        product_type: Option<String>,
        /// Its descriptive fields, flattened into the payload.
        #[serde(flatten)]
        details: Details,
        /// Its first price: the master variant's base price.
        price: Money,
        /// Its first stock level, never negative: the master variant's.
        stock: i64,
        /// The master variant's variant-level attributes (v3); none on older events.
        #[serde(default, skip_serializing_if = "Attributes::is_empty")]
        variant_attributes: Attributes,
    },
    /// Descriptive fields changed. Recorded only when at least one value differs.
    DetailsUpdated {
        /// The whole details after the update, changed or not, flattened into the payload.
        #[serde(flatten)]
        details: Details,
        /// Names of the fields whose value changed, for history and diffs.
        changed: Vec<String>,
    },
    /// The master variant's undated price without channel in `previous`'s currency was
    /// replaced by `price` (v1's one price). Recorded only when the new price differs.
    PriceChanged {
        /// The price from this event on.
        price: Money,
        /// The price it replaced, so history shows both sides without replaying.
        previous: Money,
    },
    /// The master variant's stock level moved, never below zero.
    StockAdjusted {
        /// The signed change, never zero: positive for stock added, negative for stock taken.
        delta: i64,
        /// Why, as the client stated it.
        reason: String,
        /// Stock level after the adjustment.
        stock: i64,
    },
    /// The product went from draft to published.
    ProductPublished {},
    /// The product went from published back to draft.
    ProductUnpublished {},
    /// The product was archived, from draft or published: its last event, as an archived
    /// product accepts no command.
    ProductArchived {
        /// The SKU the product held, so that its reservation can be released from the event alone.
        sku: String,
    },
    /// An uploaded image was attached. It is processing until `ImageProcessed` or
    /// `ImageProcessingFailed` records the outcome.
    ImageAttached {
        /// Id of the new image, unique among the product's images.
        image_id: String,
        /// The uploaded file, already in the blob store.
        original: ImageOriginal,
    },
    /// An image was removed from the product, whatever its status.
    ImageRemoved {
        /// The image removed.
        image_id: String,
        /// Every blob the image owned (original and renditions), so that a cleaner can delete
        /// them without reading the product's history.
        blob_keys: Vec<String>,
    },
    /// The image worker made an image's renditions: the image is ready.
    ImageProcessed {
        /// The image processed.
        image_id: String,
        /// Width of the original in pixels as displayed (EXIF orientation applied).
        width: u32,
        /// Height of the original in pixels as displayed.
        height: u32,
        /// BlurHash placeholder of the image, when the worker computed one.
        blurhash: Option<String>,
        /// The renditions made, keyed by name (see [`RENDITION_NAMES`]); never empty.
        renditions: BTreeMap<String, Rendition>,
    },
    /// The image worker could not make an image's renditions: the image is failed, and stays so.
    ImageProcessingFailed {
        /// The image that failed.
        image_id: String,
        /// Why, for people: what the image's `failure` shows.
        reason: String,
    },
    /// A variant was added beside the master.
    VariantAdded {
        /// Its id, unique within the product.
        variant_id: String,
        /// Its SKU, held for the variant's life.
        sku: String,
        /// Its variant-level attributes, as checked.
        attributes: Attributes,
        /// Its price list, possibly empty.
        prices: Vec<Price>,
        /// Its first stock level, never negative.
        stock: i64,
    },
    /// A variant's variant-level attributes were replaced (the master's too).
    VariantAttributesChanged {
        /// The variant.
        variant_id: String,
        /// The whole new set.
        attributes: Attributes,
    },
    /// A variant other than the master was removed; its SKU is free again.
    VariantRemoved {
        /// The variant removed.
        variant_id: String,
        /// The SKU it held, so that its reservation can be released from the event alone.
        sku: String,
    },
    /// The stock level of a variant other than the master moved, never below zero (the
    /// master's is `StockAdjusted`).
    VariantStockAdjusted {
        /// The variant.
        variant_id: String,
        /// The signed change, never zero.
        delta: i64,
        /// Why, as the client stated it.
        reason: String,
        /// Its stock level after the adjustment.
        stock: i64,
    },
    /// A variant's whole price list was replaced (the master's too).
    PricesSet {
        /// The variant.
        variant_id: String,
        /// The whole new list.
        prices: Vec<Price>,
    },
}

impl ProductEvent {
    /// Every event type name [`Self::type_name`] returns: what a reader may filter on.
    pub const TYPE_NAMES: &'static [&'static str] = &[
        "ProductCreated",
        "DetailsUpdated",
        "PriceChanged",
        "StockAdjusted",
        "ProductPublished",
        "ProductUnpublished",
        "ProductArchived",
        "ImageAttached",
        "ImageRemoved",
        "ImageProcessed",
        "ImageProcessingFailed",
        "VariantAdded",
        "VariantAttributesChanged",
        "VariantRemoved",
        "VariantStockAdjusted",
        "PricesSet",
    ];

    /// The event's type name, as stored in `events.event_type` and used in routing keys.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ProductCreated { .. } => "ProductCreated",
            Self::DetailsUpdated { .. } => "DetailsUpdated",
            Self::PriceChanged { .. } => "PriceChanged",
            Self::StockAdjusted { .. } => "StockAdjusted",
            Self::ProductPublished {} => "ProductPublished",
            Self::ProductUnpublished {} => "ProductUnpublished",
            Self::ProductArchived { .. } => "ProductArchived",
            Self::ImageAttached { .. } => "ImageAttached",
            Self::ImageRemoved { .. } => "ImageRemoved",
            Self::ImageProcessed { .. } => "ImageProcessed",
            Self::ImageProcessingFailed { .. } => "ImageProcessingFailed",
            Self::VariantAdded { .. } => "VariantAdded",
            Self::VariantAttributesChanged { .. } => "VariantAttributesChanged",
            Self::VariantRemoved { .. } => "VariantRemoved",
            Self::VariantStockAdjusted { .. } => "VariantStockAdjusted",
            Self::PricesSet { .. } => "PricesSet",
        }
    }
}

impl DomainEvent for ProductEvent {
    fn event_type(&self) -> String {
        self.type_name().to_string()
    }

    fn event_version(&self) -> String {
        crate::versions::current_version(self.type_name()).to_string()
    }
}
