//! One line of a bulk import: a whole product as the file has it, which the product turns into
//! the events of its differences. The decision is made of the single commands' own decisions,
//! each on the state the ones before it left, so an imported line obeys exactly the rules a
//! client's commands would, and its events are stored together or not at all.

use cqrs_es::Aggregate;

use crate::commands::{CreateProduct, ImportProduct, ProductCommand};
use crate::details::{Context, UpdateDetails};
use crate::error::{FieldError, ProductError};
use crate::events::ProductEvent;
use crate::product::{Product, ProductStatus};
use crate::variants::{AddVariant, MASTER};

/// The reason stock changes of an import are recorded with.
pub const IMPORT_REASON: &str = "import";

impl Product {
    /// The events that make this product what `import` describes: its creation and variants
    /// when it does not exist, otherwise the changes of what differs; none when nothing does.
    pub(crate) fn import(
        &self,
        import: ImportProduct,
        context: Context<'_>,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        let mut line = Line {
            state: self.clone(),
            events: Vec::new(),
            context,
        };
        let ImportProduct {
            sku,
            product_type,
            name,
            description,
            category,
            attributes,
            price,
            stock,
            variant_attributes,
            variants,
        } = import;
        if let Some(stock) = stock.filter(|s| *s < 0) {
            return Err(ProductError::invalid(
                "stock",
                format!("must not be negative, not {stock}"),
            ));
        }
        match self.status {
            None => line.run(
                "",
                ProductCommand::Create(CreateProduct {
                    sku,
                    product_type,
                    name,
                    description,
                    category,
                    attributes: attributes.unwrap_or_default(),
                    price,
                    stock: stock.unwrap_or(0),
                    variant_attributes: variant_attributes.unwrap_or_default(),
                }),
            )?,
            Some(ProductStatus::Archived) => return Err(ProductError::Archived),
            Some(_) => {
                if product_type != self.product_type {
                    return Err(ProductError::invalid(
                        "type",
                        format!(
                            "is fixed at creation: the product's type is {}",
                            self.product_type.as_deref().unwrap_or("none")
                        ),
                    ));
                }
                line.run(
                    "",
                    ProductCommand::UpdateDetails(UpdateDetails {
                        name: Some(name),
                        description: description.map(Some),
                        category: category.map(Some),
                        attributes,
                    }),
                )?;
                line.run("", ProductCommand::ChangePrice(price))?;
                line.set_stock("", MASTER, stock)?;
                if let Some(attributes) = variant_attributes {
                    line.run(
                        "",
                        ProductCommand::ChangeVariant {
                            variant_id: MASTER.to_string(),
                            attributes,
                        },
                    )?;
                }
            }
        }
        for (i, variant) in variants.into_iter().enumerate() {
            let prefix = format!("variants[{i}].");
            let held = line
                .state
                .variants
                .iter()
                .find(|v| v.sku == variant.sku)
                .map(|v| v.id.clone());
            let Some(variant_id) = held else {
                line.run(
                    &prefix,
                    ProductCommand::AddVariant(AddVariant {
                        variant_id: variant.new_id,
                        sku: variant.sku,
                        attributes: variant.attributes.unwrap_or_default(),
                        prices: variant.prices.unwrap_or_default(),
                        stock: variant.stock.unwrap_or(0),
                    }),
                )?;
                continue;
            };
            if let Some(attributes) = variant.attributes {
                line.run(
                    &prefix,
                    ProductCommand::ChangeVariant {
                        variant_id: variant_id.clone(),
                        attributes,
                    },
                )?;
            }
            if let Some(prices) = variant.prices {
                line.run(
                    &prefix,
                    ProductCommand::SetPrices {
                        variant_id: variant_id.clone(),
                        prices,
                    },
                )?;
            }
            line.set_stock(&prefix, &variant_id, variant.stock)?;
        }
        Ok(line.events)
    }
}

/// A line's decision in progress: the state its commands have made so far.
struct Line<'a> {
    state: Product,
    events: Vec<ProductEvent>,
    context: Context<'a>,
}

impl Line<'_> {
    /// Decides `command` on the state so far and applies its events. A refusal names its
    /// fields under `prefix`, where in the line they are.
    fn run(&mut self, prefix: &str, command: ProductCommand) -> Result<(), ProductError> {
        let events = self
            .state
            .decide(command, self.context)
            .map_err(|err| under(prefix, err))?;
        for event in &events {
            self.state.apply(event.clone());
        }
        self.events.extend(events);
        Ok(())
    }

    /// Adjusts a held variant's stock to `stock`, when given and different.
    fn set_stock(
        &mut self,
        prefix: &str,
        variant_id: &str,
        stock: Option<i64>,
    ) -> Result<(), ProductError> {
        let Some(stock) = stock else { return Ok(()) };
        if stock < 0 {
            return Err(ProductError::invalid(
                format!("{prefix}stock"),
                format!("must not be negative, not {stock}"),
            ));
        }
        let current = self
            .state
            .variants
            .iter()
            .find(|v| v.id == variant_id)
            .map_or(0, |v| v.stock);
        if stock == current {
            return Ok(());
        }
        self.run(
            prefix,
            ProductCommand::AdjustStock {
                variant_id: variant_id.to_string(),
                delta: stock - current,
                reason: IMPORT_REASON.to_string(),
            },
        )
    }
}

/// `err` with its fields named under `prefix` (`variants[2].`).
fn under(prefix: &str, err: ProductError) -> ProductError {
    match err {
        ProductError::Invalid(fields) if !prefix.is_empty() => ProductError::Invalid(
            fields
                .into_iter()
                .map(|f| FieldError::new(format!("{prefix}{}", f.field), f.message))
                .collect(),
        ),
        ProductError::WrongType { field } if !prefix.is_empty() => ProductError::WrongType {
            field: format!("{prefix}{field}"),
        },
        other => other,
    }
}
