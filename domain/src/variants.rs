//! Variants (Catalog 2, "Variants"): the sellable units of a product, each with its own SKU,
//! variant-level attributes, price list and stock. Every product has a master variant, id
//! [`MASTER`], holding v1's `sku`, `price` and `stock`; v1's routes act on it. How a product
//! decides the commands on its variants is in `variant_commands`.

use serde::{Deserialize, Serialize};

use crate::attributes::{self, Attributes};
use crate::money::Money;
use crate::prices::Price;
use crate::rules::Violations;

/// The id of every product's master variant.
pub const MASTER: &str = "master";

/// The most variants a product holds besides its master.
pub const MAX_VARIANTS: usize = 100;

/// One variant of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// [`MASTER`], or the id given when it was added, unique within the product.
    pub id: String,
    /// Its SKU, fixed for the variant's life; unique across the live variants of every product
    /// (held by the SKU registry beside the event store).
    pub sku: String,
    /// Its variant-level attributes: strings on an untyped product, values of the type's
    /// `level: "variant"` definitions on a typed one.
    pub attributes: Attributes,
    /// Its price list. The master's first price is its base price: undated, without channel
    /// (v1's one price).
    pub prices: Vec<Price>,
    /// Its stock level; never negative.
    pub stock: i64,
}

impl Variant {
    /// Whether this is the product's master variant.
    pub fn is_master(&self) -> bool {
        self.id == MASTER
    }

    /// The master's base price: its first, undated and without channel.
    pub fn base_price(&self) -> Option<&Money> {
        self.prices.first().map(|price| &price.money)
    }

    /// The position of the undated price without channel in `currency`: what v1's `PUT
    /// /price` replaces.
    pub(crate) fn undated_in(&self, currency: &str) -> Option<usize> {
        self.prices
            .iter()
            .position(|p| p.money.currency == currency && p.channel.is_none() && !p.is_dated())
    }
}

/// A variant to add to a product, as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct AddVariant {
    /// Id of the new variant, chosen by the caller (the HTTP layer makes a UUID).
    pub variant_id: String,
    /// Its SKU: the rules of a product's, and unique (the registry holds that).
    pub sku: String,
    /// Its variant-level attributes.
    pub attributes: Attributes,
    /// Its price list; may be empty (its `price` reads as null then).
    pub prices: Vec<Price>,
    /// Its first stock level: not negative.
    pub stock: i64,
}

impl Violations {
    /// An untyped product's variant attributes under `field` (`attributes` or
    /// `variant_attributes`): strings, under v1's rules for attributes.
    pub(crate) fn untyped_variant_attributes(&mut self, field: &str, given: &Attributes) {
        if let Ok(strings) = attributes::untyped(given) {
            self.attributes_under(field, &strings);
        }
    }

    /// A variant's price list: the rules of every list, and a master's first price is its
    /// base price (undated, without channel), so that v1's `price` always has a value.
    pub(crate) fn variant_prices(&mut self, master: bool, prices: &[Price]) {
        self.prices("prices", prices);
        if master
            && prices
                .first()
                .is_none_or(|p| p.is_dated() || p.channel.is_some())
        {
            self.push(
                "prices",
                "the master's first price is its base price: undated and without channel",
            );
        }
    }
}
