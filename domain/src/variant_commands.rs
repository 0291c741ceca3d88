//! How a product decides the commands on its variants and price lists: the rules that bind a
//! variant to the rest of the product (SKUs and attribute values unique within it, at most
//! [`MAX_VARIANTS`], the type's variant-level definitions), apart from [`crate::variants`],
//! which the commands and events name without depending on the aggregate.

use crate::attributes::Attributes;
use crate::details::Context;
use crate::error::ProductError;
use crate::events::ProductEvent;
use crate::money::Money;
use crate::prices::Price;
use crate::product::Product;
use crate::rules::Violations;
use crate::variants::{AddVariant, Variant, MASTER, MAX_VARIANTS};

impl Product {
    /// The master variant; `None` until the product is created.
    pub fn master(&self) -> Option<&Variant> {
        self.variants.first()
    }

    /// The variant `variant_id`, or `VariantNotFound`.
    pub fn variant(&self, variant_id: &str) -> Result<&Variant, ProductError> {
        self.variants
            .iter()
            .find(|v| v.id == variant_id)
            .ok_or(ProductError::VariantNotFound)
    }

    pub(crate) fn variant_mut(&mut self, variant_id: &str) -> Option<&mut Variant> {
        self.variants.iter_mut().find(|v| v.id == variant_id)
    }

    /// `attributes` checked as variant `variant_id`'s (master or not), as stored: against the
    /// type's variant-level definitions on a typed product, as strings on an untyped one.
    /// Broken rules are reported under `field`.
    pub(crate) fn checked_variant_attributes(
        product_type: Option<&str>,
        context: Context<'_>,
        field: &str,
        attributes: Attributes,
        master: bool,
        violations: &mut Violations,
    ) -> Result<Attributes, ProductError> {
        match product_type {
            None => {
                violations.untyped_variant_attributes(field, &attributes);
                Ok(attributes)
            }
            Some(key) => {
                let definition = context
                    .product_type
                    .filter(|t| t.key == key)
                    .ok_or_else(|| ProductError::TypeUnavailable(key.to_string()))?;
                Ok(definition.check_variant_attributes(
                    field,
                    attributes,
                    master,
                    context.default_locale,
                    violations,
                ))
            }
        }
    }

    /// Refuses `attributes` for variant `variant_id` when another variant holds the same
    /// values. Variants without variant attributes are told apart by their SKUs alone (a v1
    /// product's master has none), so only non-empty sets are compared.
    fn unique_values(&self, variant_id: &str, attributes: &Attributes) -> Result<(), ProductError> {
        if attributes.is_empty() {
            return Ok(());
        }
        match self
            .variants
            .iter()
            .find(|v| v.id != variant_id && v.attributes == *attributes)
        {
            Some(twin) => Err(ProductError::DuplicateVariant {
                variant_id: twin.id.clone(),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn add_variant(
        &self,
        add: AddVariant,
        context: Context<'_>,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        let mut violations = Violations::default();
        violations.sku(&add.sku);
        let attributes = Self::checked_variant_attributes(
            self.product_type.as_deref(),
            context,
            "attributes",
            add.attributes,
            false,
            &mut violations,
        )?;
        violations.variant_prices(false, &add.prices);
        violations.stock(add.stock);
        violations.into_result().map_err(ProductError::Invalid)?;
        if self.variants.iter().any(|v| v.id == add.variant_id) {
            return Err(ProductError::invalid("variant_id", "is taken"));
        }
        if self.variants.iter().any(|v| v.sku == add.sku) {
            return Err(ProductError::SkuTaken(add.sku));
        }
        if self.variants.len() > MAX_VARIANTS {
            return Err(ProductError::TooManyVariants {
                limit: MAX_VARIANTS,
            });
        }
        self.unique_values(&add.variant_id, &attributes)?;
        Ok(vec![ProductEvent::VariantAdded {
            variant_id: add.variant_id,
            sku: add.sku,
            attributes,
            prices: add.prices,
            stock: add.stock,
        }])
    }

    pub(crate) fn change_variant(
        &self,
        variant_id: String,
        attributes: Attributes,
        context: Context<'_>,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        let variant = self.variant(&variant_id)?;
        let mut violations = Violations::default();
        let attributes = Self::checked_variant_attributes(
            self.product_type.as_deref(),
            context,
            "attributes",
            attributes,
            variant.is_master(),
            &mut violations,
        )?;
        violations.into_result().map_err(ProductError::Invalid)?;
        if attributes == variant.attributes {
            return Ok(vec![]);
        }
        self.unique_values(&variant_id, &attributes)?;
        Ok(vec![ProductEvent::VariantAttributesChanged {
            variant_id,
            attributes,
        }])
    }

    pub(crate) fn remove_variant(
        &self,
        variant_id: &str,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        let variant = self.variant(variant_id)?;
        if variant.is_master() {
            return Err(ProductError::MasterVariant);
        }
        Ok(vec![ProductEvent::VariantRemoved {
            variant_id: variant.id.clone(),
            sku: variant.sku.clone(),
        }])
    }

    pub(crate) fn set_prices(
        &self,
        variant_id: String,
        prices: Vec<Price>,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        let variant = self.variant(&variant_id)?;
        let mut violations = Violations::default();
        violations.variant_prices(variant.is_master(), &prices);
        violations.into_result().map_err(ProductError::Invalid)?;
        if prices == variant.prices {
            return Ok(vec![]);
        }
        Ok(vec![ProductEvent::PricesSet { variant_id, prices }])
    }

    /// v1's `PUT /price`: replaces the master's undated price without channel in the price's
    /// currency, keeping the rest, and makes it the first price, the one a read without
    /// `currency` serves: as in v1, a client reads back the price it set. Recorded as v1's
    /// `PriceChanged` when it replaces the first price (what that event has always meant),
    /// else as the master's new list.
    pub(crate) fn change_price(&self, price: Money) -> Result<Vec<ProductEvent>, ProductError> {
        let mut violations = Violations::default();
        violations.money("", &price);
        violations.into_result().map_err(ProductError::Invalid)?;
        let master = self.master().expect("a created product has a master");
        match master.undated_in(&price.currency) {
            Some(0) if master.prices[0].money == price => Ok(vec![]),
            Some(0) => Ok(vec![ProductEvent::PriceChanged {
                price,
                previous: master.prices[0].money.clone(),
            }]),
            replaced => {
                let mut prices = master.prices.clone();
                if let Some(at) = replaced {
                    prices.remove(at);
                }
                prices.insert(0, Price::base(price));
                self.set_prices(MASTER.to_string(), prices)
            }
        }
    }

    pub(crate) fn adjust_stock(
        &self,
        variant_id: String,
        delta: i64,
        reason: String,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        let variant = self.variant(&variant_id)?;
        let mut violations = Violations::default();
        violations.delta(delta);
        violations.reason("reason", &reason);
        violations.into_result().map_err(ProductError::Invalid)?;
        let insufficient = ProductError::InsufficientStock {
            available: variant.stock,
            delta,
        };
        let stock = match variant.stock.checked_add(delta) {
            Some(stock) if stock >= 0 => stock,
            Some(_) => return Err(insufficient),
            None if delta < 0 => return Err(insufficient),
            None => return Err(ProductError::invalid("delta", "stock would overflow")),
        };
        // The master's stock moves as v1 recorded it, so v1's readers keep their meaning.
        Ok(vec![if variant.is_master() {
            ProductEvent::StockAdjusted {
                delta,
                reason,
                stock,
            }
        } else {
            ProductEvent::VariantStockAdjusted {
                variant_id,
                delta,
                reason,
                stock,
            }
        }])
    }
}
