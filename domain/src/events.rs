use std::collections::BTreeMap;

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// Version of the payload shapes below. Bump it when a shape changes and add an upcaster for
/// the old one, so that stored history is never rewritten.
pub const EVENT_VERSION: &str = "1";

/// The rendition names of the HTTP contract, smallest first.
pub const RENDITION_NAMES: [&str; 4] = ["thumb", "small", "medium", "large"];

/// The descriptive fields of a product, carried whole by the events that set them so that a
/// read model can overwrite instead of merging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// The uploaded file an image was made from, as stored in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageOriginal {
    /// Content-addressed blob key of the original bytes.
    pub key: String,
    /// Media type recognised from the bytes, never taken from the client.
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// One rendition of an image in both of its encodings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendition {
    pub width: u32,
    pub height: u32,
    pub webp_key: String,
    pub jpeg_key: String,
}

/// Every fact a product records. Events carry the values they result in (the new stock, the
/// whole new details) so that projections and audits never have to recompute rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProductEvent {
    ProductCreated {
        sku: String,
        #[serde(flatten)]
        details: Details,
        price: Money,
        stock: i64,
    },
    DetailsUpdated {
        #[serde(flatten)]
        details: Details,
        /// Names of the fields whose value changed, for history and diffs.
        changed: Vec<String>,
    },
    PriceChanged {
        price: Money,
        previous: Money,
    },
    StockAdjusted {
        delta: i64,
        reason: String,
        /// Stock level after the adjustment.
        stock: i64,
    },
    ProductPublished {},
    ProductUnpublished {},
    ProductArchived {
        /// The SKU the product held, so that its reservation can be released from the event alone.
        sku: String,
    },
    ImageAttached {
        image_id: String,
        original: ImageOriginal,
    },
    ImageRemoved {
        image_id: String,
        /// Every blob the image owned (original and renditions), so that a cleaner can delete
        /// them without reading the product's history.
        blob_keys: Vec<String>,
    },
    ImageProcessed {
        image_id: String,
        width: u32,
        height: u32,
        blurhash: Option<String>,
        renditions: BTreeMap<String, Rendition>,
    },
    ImageProcessingFailed {
        image_id: String,
        reason: String,
    },
}

impl ProductEvent {
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
        }
    }
}

impl DomainEvent for ProductEvent {
    fn event_type(&self) -> String {
        self.type_name().to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}
