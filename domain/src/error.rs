//! Why a command was refused: one [`ProductError`] per kind of refusal, and the broken field
//! rules of an invalid request as [`FieldError`]s.

use serde::Serialize;

/// One field that broke a rule, named as the client sent it (`price.amount`, `attributes.color`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field as the client named it, dotted for nested ones.
    pub field: String,
    /// The rule it broke, for people: `must not be blank`.
    pub message: String,
}

impl FieldError {
    /// A broken rule of `field`, described by `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a product refused a command. Each variant is one kind of refusal that a client can act on;
/// the HTTP layer maps each to one status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    /// Any command but `Create` to a product that was never created.
    #[error("product not found")]
    NotFound,
    /// `Create` to a product that already exists, archived or not.
    #[error("product already exists")]
    AlreadyExists,
    /// Values that break the field rules: every broken rule of the command, not just the first.
    #[error("invalid values: {}", summary(.0))]
    Invalid(Vec<FieldError>),
    /// A value of another JSON type than the contract fixes: an attribute of an untyped
    /// product that is not a string. v1 read such a body as malformed, and so does Catalog
    /// (400); a typed product's values are checked against its type instead (422).
    #[error("{field} must be a string: the attributes of a product without a type are strings")]
    WrongType {
        /// The field, as the client named it (`attributes.<name>`).
        field: String,
    },
    /// The definition of the product's type was not at hand to check a change of its
    /// attributes: a fault of the caller, never of the client.
    #[error("the definition of product type {0} is not available")]
    TypeUnavailable(String),
    /// Any command to an archived product: archiving is final.
    #[error("product is archived and accepts no command")]
    Archived,
    /// `Publish` to a product that is already published.
    #[error("product is already published")]
    AlreadyPublished,
    /// `Unpublish` to a product that is a draft.
    #[error("product is not published")]
    NotPublished,
    /// `AdjustStock` that would take the stock level below zero.
    #[error("insufficient stock: {available} in stock, adjustment of {delta} refused")]
    InsufficientStock {
        /// The stock level when the adjustment was refused.
        available: i64,
        /// The adjustment refused.
        delta: i64,
    },
    /// `AttachImage` to a product that already holds the most images allowed.
    #[error("a product holds at most {limit} images")]
    TooManyImages {
        /// The most images a product may hold: [`MAX_IMAGES`](crate::product::MAX_IMAGES).
        limit: usize,
    },
    /// A command naming an image the product does not hold: never attached, or removed.
    #[error("image not found")]
    ImageNotFound,
    /// `AttachImage` with the id of an image the product already holds; carries that id.
    #[error("image {0} is already attached")]
    ImageAlreadyAttached(String),
    /// A processing outcome recorded for an image no longer processing: one was recorded already.
    #[error("image is {status}, not processing")]
    ImageNotProcessing {
        /// The image's current status: `ready` or `failed`.
        status: String,
    },
    /// A command naming a variant the product does not hold: never added, or removed.
    #[error("variant not found")]
    VariantNotFound,
    /// A variant whose variant attribute values another variant of the product holds.
    #[error("variant {variant_id} has the same variant attribute values")]
    DuplicateVariant {
        /// The variant that holds them.
        variant_id: String,
    },
    /// `AddVariant` to a product that holds the most variants allowed besides its master.
    #[error("a product holds at most {limit} variants besides its master")]
    TooManyVariants {
        /// [`MAX_VARIANTS`](crate::variants::MAX_VARIANTS).
        limit: usize,
    },
    /// `RemoveVariant` naming the master: every product has one.
    #[error("the master variant cannot be removed")]
    MasterVariant,
    /// `AddVariant` with a SKU a variant of the same product holds. Across products the SKU
    /// registry refuses it before the command runs.
    #[error("SKU {0} is taken")]
    SkuTaken(String),
}

impl ProductError {
    /// Stable snake_case name of the refusal, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Invalid(_) => "invalid",
            Self::WrongType { .. } => "wrong_type",
            Self::TypeUnavailable(_) => "type_unavailable",
            Self::Archived => "archived",
            Self::AlreadyPublished => "already_published",
            Self::NotPublished => "not_published",
            Self::InsufficientStock { .. } => "insufficient_stock",
            Self::TooManyImages { .. } => "too_many_images",
            Self::ImageNotFound => "image_not_found",
            Self::ImageAlreadyAttached(_) => "image_already_attached",
            Self::ImageNotProcessing { .. } => "image_not_processing",
            Self::VariantNotFound => "variant_not_found",
            Self::DuplicateVariant { .. } => "duplicate_variant",
            Self::TooManyVariants { .. } => "too_many_variants",
            Self::MasterVariant => "master_variant",
            Self::SkuTaken(_) => "sku_taken",
        }
    }

    /// An [`Invalid`](Self::Invalid) refusal for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}
