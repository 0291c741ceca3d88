//! The product aggregate the way the cqrs-es book builds one: commands in, events written
//! through the sink (which applies them), state folded by `apply`. The state holds only what
//! the commands decide on: whether the product exists, its stock and its variants' stock.

use std::collections::{BTreeMap, HashMap};

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// A price, optionally of one sales channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub amount: i64,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

pub type Attributes = BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub enum ProductCommand {
    Create {
        sku: String,
        name: String,
        description: String,
        price: Price,
        stock: i64,
        category: String,
        attributes: Attributes,
    },
    AddVariant {
        /// Chosen by the caller (the HTTP handler), so that it can answer it.
        variant_id: String,
        sku: String,
        attributes: Attributes,
        prices: Vec<Price>,
        stock: i64,
    },
    AdjustStock {
        delta: i64,
        reason: String,
    },
    AdjustVariantStock {
        variant_id: String,
        delta: i64,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProductEvent {
    ProductCreated {
        sku: String,
        name: String,
        description: String,
        price: Price,
        stock: i64,
        category: String,
        attributes: Attributes,
    },
    VariantAdded {
        variant_id: String,
        sku: String,
        attributes: Attributes,
        prices: Vec<Price>,
        stock: i64,
    },
    StockAdjusted {
        delta: i64,
        reason: String,
        stock: i64,
    },
    VariantStockAdjusted {
        variant_id: String,
        delta: i64,
        reason: String,
        stock: i64,
    },
}

impl DomainEvent for ProductEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ProductCreated { .. } => "ProductCreated",
            Self::VariantAdded { .. } => "VariantAdded",
            Self::StockAdjusted { .. } => "StockAdjusted",
            Self::VariantStockAdjusted { .. } => "VariantStockAdjusted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// A command the rules refuse (`AggregateError::UserError`).
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error("no such product")]
    NotFound,
    #[error("the product already exists")]
    AlreadyExists,
    #[error("no such variant")]
    VariantNotFound,
    #[error("the product already has a variant with SKU {0}")]
    DuplicateVariantSku(String),
    #[error("stock would become {0}")]
    NegativeStock(i64),
    #[error("{0}")]
    Invalid(&'static str),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Product {
    created: bool,
    stock: i64,
    variants: HashMap<String, Variant>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Variant {
    sku: String,
    stock: i64,
}

fn adjusted(stock: i64, delta: i64) -> Result<i64, ProductError> {
    if delta == 0 {
        return Err(ProductError::Invalid("delta must not be 0"));
    }
    let stock = stock
        .checked_add(delta)
        .ok_or(ProductError::Invalid("delta out of range"))?;
    if stock < 0 {
        return Err(ProductError::NegativeStock(stock));
    }
    Ok(stock)
}

impl Aggregate for Product {
    const TYPE: &'static str = "Product";
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = ProductError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if !self.created && !matches!(command, ProductCommand::Create { .. }) {
            return Err(ProductError::NotFound);
        }
        let event = match command {
            ProductCommand::Create {
                sku,
                name,
                description,
                price,
                stock,
                category,
                attributes,
            } => {
                if self.created {
                    return Err(ProductError::AlreadyExists);
                }
                if sku.is_empty() || name.is_empty() {
                    return Err(ProductError::Invalid("sku and name must not be empty"));
                }
                if stock < 0 {
                    return Err(ProductError::NegativeStock(stock));
                }
                ProductEvent::ProductCreated {
                    sku,
                    name,
                    description,
                    price,
                    stock,
                    category,
                    attributes,
                }
            }
            ProductCommand::AddVariant {
                variant_id,
                sku,
                attributes,
                prices,
                stock,
            } => {
                if sku.is_empty() {
                    return Err(ProductError::Invalid("sku must not be empty"));
                }
                if self.variants.values().any(|v| v.sku == sku) {
                    return Err(ProductError::DuplicateVariantSku(sku));
                }
                if stock < 0 {
                    return Err(ProductError::NegativeStock(stock));
                }
                ProductEvent::VariantAdded {
                    variant_id,
                    sku,
                    attributes,
                    prices,
                    stock,
                }
            }
            ProductCommand::AdjustStock { delta, reason } => ProductEvent::StockAdjusted {
                stock: adjusted(self.stock, delta)?,
                delta,
                reason,
            },
            ProductCommand::AdjustVariantStock {
                variant_id,
                delta,
                reason,
            } => {
                let variant = self
                    .variants
                    .get(&variant_id)
                    .ok_or(ProductError::VariantNotFound)?;
                ProductEvent::VariantStockAdjusted {
                    stock: adjusted(variant.stock, delta)?,
                    variant_id,
                    delta,
                    reason,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ProductEvent::ProductCreated { stock, .. } => {
                self.created = true;
                self.stock = stock;
            }
            ProductEvent::VariantAdded {
                variant_id,
                sku,
                stock,
                ..
            } => {
                self.variants.insert(variant_id, Variant { sku, stock });
            }
            ProductEvent::StockAdjusted { stock, .. } => self.stock = stock,
            ProductEvent::VariantStockAdjusted {
                variant_id, stock, ..
            } => {
                if let Some(variant) = self.variants.get_mut(&variant_id) {
                    variant.stock = stock;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type ProductTest = TestFramework<Product>;

    fn created() -> ProductEvent {
        ProductEvent::ProductCreated {
            sku: "S".into(),
            name: "N".into(),
            description: String::new(),
            price: Price {
                amount: 1,
                currency: "EUR".into(),
                channel: None,
            },
            stock: 5,
            category: "c".into(),
            attributes: Attributes::new(),
        }
    }

    fn variant() -> ProductEvent {
        ProductEvent::VariantAdded {
            variant_id: "v".into(),
            sku: "S-V".into(),
            attributes: Attributes::new(),
            prices: vec![],
            stock: 2,
        }
    }

    #[test]
    fn adjusts_the_master_and_a_variant() {
        ProductTest::with(())
            .given(vec![created()])
            .when(ProductCommand::AdjustStock {
                delta: 1,
                reason: "r".into(),
            })
            .then_expect_events(vec![ProductEvent::StockAdjusted {
                delta: 1,
                reason: "r".into(),
                stock: 6,
            }]);
        ProductTest::with(())
            .given(vec![created(), variant()])
            .when(ProductCommand::AdjustVariantStock {
                variant_id: "v".into(),
                delta: -2,
                reason: "r".into(),
            })
            .then_expect_events(vec![ProductEvent::VariantStockAdjusted {
                variant_id: "v".into(),
                delta: -2,
                reason: "r".into(),
                stock: 0,
            }]);
    }

    #[test]
    fn refuses_negative_stock_and_unknown_targets() {
        ProductTest::with(())
            .given(vec![created()])
            .when(ProductCommand::AdjustStock {
                delta: -6,
                reason: "r".into(),
            })
            .then_expect_error_message("stock would become -1");
        ProductTest::with(())
            .given_no_previous_events()
            .when(ProductCommand::AdjustStock {
                delta: 1,
                reason: "r".into(),
            })
            .then_expect_error_message("no such product");
        ProductTest::with(())
            .given(vec![created()])
            .when(ProductCommand::AdjustVariantStock {
                variant_id: "w".into(),
                delta: 1,
                reason: "r".into(),
            })
            .then_expect_error_message("no such variant");
    }
}
