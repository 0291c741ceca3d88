//! The ProductView of the HTTP contract, derived from the aggregate's own state. The read side
//! folds events with the same `Product::apply` as the command side and only maps the result,
//! so the two can never disagree on what an event means.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::attributes::{AttributeValue, Attributes};
use crate::locale::{LocalizedText, Wanted};
use crate::money::Money;
use crate::prices::{Price, Selection};
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

/// Every text of a product in every locale it has: what a reader in another locale is served
/// from. `description` only when the product has one; `attributes` holds its `ltext`
/// attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Translations {
    /// The name, tag → text.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub name: LocalizedText,
    /// The description, tag → text, when the product has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, String>>))]
    pub description: Option<LocalizedText>,
    /// Each `ltext` attribute, tag → text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, BTreeMap<String, String>>))]
    pub attributes: BTreeMap<String, LocalizedText>,
}

impl Translations {
    /// True for a document without translations: one of read-model generation 1.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.description.is_none() && self.attributes.is_empty()
    }
}

#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariantView {
    /// `master` for the master variant.
    pub id: String,
    pub sku: String,
    /// Its variant-level attributes; `ltext` values in the locale served.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, AttributeValue>))]
    pub attributes: Attributes,
    /// Its whole price list.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<PriceView>))]
    pub prices: Vec<Price>,
    /// The price selected for the read's `currency`, `channel` and `at`; `null` when none
    /// applies.
    pub price: Option<Money>,
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub stock: i64,
}

/// A price of a list: `{amount, currency, channel?, valid_from?, valid_until?}`.
#[cfg(feature = "openapi")]
#[allow(dead_code)] // only its schema is used
#[derive(utoipa::ToSchema)]
#[schema(as = Price)]
pub struct PriceView {
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    amount: i64,
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    currency: String,
    #[schema(pattern = "^[a-z0-9-]{1,64}$")]
    channel: Option<String>,
    /// Inclusive; open when absent.
    valid_from: Option<DateTime<Utc>>,
    /// Exclusive; open when absent.
    valid_until: Option<DateTime<Utc>>,
}

#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductView {
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    pub sku: String,
    /// The product type's key; `null` for an untyped product.
    #[serde(rename = "type", default)]
    pub product_type: Option<String>,
    /// In the locale served (see `locale`).
    pub name: String,
    pub description: Option<String>,
    /// The master's price selected for the read's `currency`, `channel` and `at` (by
    /// default its base price); `null` when none applies.
    pub price: Option<Money>,
    /// The master's stock.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub stock: i64,
    pub category: Option<String>,
    /// Strings on an untyped product; on a typed one each value as its type defines, `ltext`
    /// values in the locale served.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, AttributeValue>))]
    pub attributes: Attributes,
    pub status: ProductStatus,
    pub images: Vec<ImageView>,
    /// The locale whose text was served for `name`. Absent only from documents of read-model
    /// generation 1 (v1), served as they were until generation 2 goes live.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub locale: String,
    /// Every localized text in every locale; absent only where `locale` is.
    #[serde(default, skip_serializing_if = "Translations::is_empty")]
    pub translations: Translations,
    /// Every variant, the master first. Absent only from documents of read-model generations
    /// before variants (1 and 2), served as they were until generation 3 goes live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantView>,
    /// The number of events the product has: its `ETag`.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProductView {
    /// The view of `product` at `version`, its texts in the locale `wanted` picks. `None` for
    /// a product that was never created.
    pub fn of(
        id: &str,
        product: &Product,
        version: u64,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        wanted: &Wanted,
    ) -> Option<Self> {
        let status = product.status?;
        let details = &product.details;
        let translations = Translations {
            name: details.name.clone(),
            description: details.description.clone(),
            attributes: details
                .attributes
                .iter()
                .filter_map(|(name, value)| match value {
                    AttributeValue::Localized(texts) => Some((name.clone(), texts.clone())),
                    _ => None,
                })
                .collect(),
        };
        let mut view = Self {
            id: id.to_string(),
            sku: product.sku().to_string(),
            product_type: product.product_type.clone(),
            name: String::new(),
            description: None,
            price: Some(product.price()?.clone()),
            stock: product.stock(),
            category: details.category.clone(),
            attributes: details.attributes.clone(),
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
            locale: String::new(),
            translations,
            variants: product
                .variants
                .iter()
                .map(|variant| VariantView {
                    id: variant.id.clone(),
                    sku: variant.sku.clone(),
                    attributes: variant.attributes.clone(),
                    prices: variant.prices.clone(),
                    price: None,
                    stock: variant.stock,
                })
                .collect(),
            version,
            created_at,
            updated_at,
        };
        view.localize(wanted);
        view.select_prices(&Selection::stored());
        Some(view)
    }

    /// The master's base price, by which lists filter and sort, whatever price a read
    /// selected; a document stored before variants has only that one.
    pub fn base_price(&self) -> Option<&Money> {
        match self.variants.first() {
            Some(master) => master.prices.first().map(|p| &p.money),
            None => self.price.as_ref(),
        }
    }

    /// Sets every variant's `price`, and the top-level `price` (the master's), to the price
    /// `selection` picks from its list (see [`crate::prices::select`]); the currency by
    /// default is the product's first price's. A document stored before variants (read-model
    /// generations 1 and 2) keeps its one price, or none when another currency is asked for.
    pub fn select_prices(&mut self, selection: &Selection) {
        let Some(master) = self.variants.first() else {
            if selection
                .currency
                .as_deref()
                .is_some_and(|currency| self.price.as_ref().is_some_and(|p| p.currency != currency))
            {
                self.price = None;
            }
            return;
        };
        let Some(currency) = selection
            .currency
            .clone()
            .or_else(|| master.prices.first().map(|p| p.money.currency.clone()))
        else {
            return;
        };
        for variant in &mut self.variants {
            variant.price = selection
                .pick(&variant.prices, &currency)
                .map(|p| p.money.clone());
        }
        self.price = self.variants[0].price.clone();
    }

    /// Serves every localized field in the locale `wanted` picks (each field on its own: see
    /// [`LocalizedText::pick`]), from [`ProductView::translations`]. A view stored before
    /// translations existed (v1's read model) has none, and keeps its single texts.
    pub fn localize(&mut self, wanted: &Wanted) {
        let translations = &self.translations;
        if let Some((locale, name)) = translations.name.pick(wanted) {
            self.locale = locale.to_string();
            self.name = name.to_string();
        } else if self.locale.is_empty() {
            self.locale = wanted.default.to_string();
        }
        if translations.name.texts().is_empty() {
            return;
        }
        self.description = translations
            .description
            .as_ref()
            .and_then(|texts| texts.pick(wanted))
            .map(|(_, text)| text.to_string());
        for (name, texts) in &translations.attributes {
            let value = AttributeValue::Localized(texts.clone()).localized(wanted);
            self.attributes.insert(name.clone(), value);
        }
        for variant in &mut self.variants {
            for value in variant.attributes.values_mut() {
                *value = value.localized(wanted);
            }
        }
    }
}
