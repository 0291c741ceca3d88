//! The ProductView of the HTTP contract, derived from the aggregate's own state. The read side
//! folds events with the same `Product::apply` as the command side and only maps the result,
//! so the two can never disagree on what an event means.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::product::{ImageStatus, Product, ProductStatus};

#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenditionView {
    /// Path of the WebP encoding; the JPEG is the same path ending in `.jpg`.
    pub url: String,
    pub width: u32,
    pub height: u32,
}

#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageView {
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    pub status: ImageStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blurhash: Option<String>,
    /// Made once the image is `ready`: `thumb`, `small`, `medium` and `large`.
    #[cfg_attr(feature = "openapi", schema(schema_with = rendition_map))]
    pub renditions: BTreeMap<String, RenditionView>,
}

/// `{thumb|small|medium|large: RenditionView}`.
#[cfg(feature = "openapi")]
fn rendition_map() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Ref, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(crate::events::RENDITION_NAMES.iter().copied())),
        ))
        .additional_properties(Some(Ref::from_schema_name("RenditionView")))
        .build()
}

#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductView {
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub price: Money,
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub stock: i64,
    pub category: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub status: ProductStatus,
    pub images: Vec<ImageView>,
    /// The number of events the product has: its `ETag`.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProductView {
    /// The view of `product` at `version`. `None` for a product that was never created.
    pub fn of(
        id: &str,
        product: &Product,
        version: u64,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Option<Self> {
        let status = product.status?;
        Some(Self {
            id: id.to_string(),
            sku: product.sku.clone(),
            name: product.details.name.clone(),
            description: product.details.description.clone(),
            price: product.price.clone()?,
            stock: product.stock,
            category: product.details.category.clone(),
            attributes: product.details.attributes.clone(),
            status,
            images: product
                .images
                .iter()
                .map(|image| ImageView {
                    id: image.id.clone(),
                    status: image.status,
                    failure: image.failure.clone(),
                    width: image.width,
                    height: image.height,
                    blurhash: image.blurhash.clone(),
                    renditions: image
                        .renditions
                        .iter()
                        .map(|(name, r)| {
                            let view = RenditionView {
                                url: format!("/images/{}/{name}.webp", image.id),
                                width: r.width,
                                height: r.height,
                            };
                            (name.clone(), view)
                        })
                        .collect(),
                })
                .collect(),
            version,
            created_at,
            updated_at,
        })
    }
}
