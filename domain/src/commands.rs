use std::collections::BTreeMap;

use crate::events::{ImageOriginal, Rendition};
use crate::money::Money;

/// What a product can be asked to do. Values arrive unchecked; the aggregate checks them.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductCommand {
    Create(CreateProduct),
    UpdateDetails(UpdateDetails),
    ChangePrice(Money),
    AdjustStock { delta: i64, reason: String },
    Publish,
    Unpublish,
    Archive,
    AttachImage(AttachImage),
    RemoveImage { image_id: String },
    RecordImageProcessed(RecordImageProcessed),
    RecordImageFailed { image_id: String, reason: String },
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
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateProduct {
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub price: Money,
    pub stock: i64,
    pub category: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// A partial change of the descriptive fields. For the optional fields the outer `Option` says
/// whether the field is being changed, the inner one whether it is being set or cleared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateDetails {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub category: Option<Option<String>>,
    pub attributes: Option<BTreeMap<String, String>>,
}

impl UpdateDetails {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.category.is_none()
            && self.attributes.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttachImage {
    pub image_id: String,
    pub original: ImageOriginal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordImageProcessed {
    pub image_id: String,
    pub width: u32,
    pub height: u32,
    pub blurhash: Option<String>,
    pub renditions: BTreeMap<String, Rendition>,
}
