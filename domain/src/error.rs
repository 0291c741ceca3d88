use serde::Serialize;

/// One field that broke a rule, named as the client sent it (`price.amount`, `attributes.color`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
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
    #[error("product not found")]
    NotFound,
    #[error("product already exists")]
    AlreadyExists,
    #[error("invalid values: {}", summary(.0))]
    Invalid(Vec<FieldError>),
    #[error("product is archived and accepts no command")]
    Archived,
    #[error("product is already published")]
    AlreadyPublished,
    #[error("product is not published")]
    NotPublished,
    #[error("insufficient stock: {available} in stock, adjustment of {delta} refused")]
    InsufficientStock { available: i64, delta: i64 },
    #[error("a product holds at most {limit} images")]
    TooManyImages { limit: usize },
    #[error("image not found")]
    ImageNotFound,
    #[error("image {0} is already attached")]
    ImageAlreadyAttached(String),
    #[error("image is {status}, not processing")]
    ImageNotProcessing { status: String },
}

impl ProductError {
    /// Stable snake_case name of the refusal, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Invalid(_) => "invalid",
            Self::Archived => "archived",
            Self::AlreadyPublished => "already_published",
            Self::NotPublished => "not_published",
            Self::InsufficientStock { .. } => "insufficient_stock",
            Self::TooManyImages { .. } => "too_many_images",
            Self::ImageNotFound => "image_not_found",
            Self::ImageAlreadyAttached(_) => "image_already_attached",
            Self::ImageNotProcessing { .. } => "image_not_processing",
        }
    }

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
