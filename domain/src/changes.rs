//! What an event changed, field by field: the values before and after it, for history. Worked
//! out by comparing the product's state before and after the event's own `Product::apply`, so
//! history can never disagree with the aggregate on what an event means.

use std::collections::BTreeSet;

use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attributes::{AttributeValue, Attributes};
use crate::details::DetailField;
use crate::events::ProductEvent;
use crate::fields::Field;
use crate::product::Product;
use crate::variants::Variant;

/// One field an event changed: its name and its value before and after (JSON, `null` when unset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    /// `sku`, `name`, `description`, `category`, `price`, `prices`, `stock`, `status`,
    /// `variant_attributes`, `attributes.<key>` or `variants.<id>`.
    #[cfg_attr(feature = "openapi", schema(example = "price"))]
    pub field: String,
    /// The value before: a string, a number, a price (`{amount, currency}`) or `null`.
    pub from: Value,
    /// The value after, as `from`.
    pub to: Value,
}

impl Product {
    /// Every field whose value differs between `self` and `next`, in [`Field::all`] order, then
    /// one entry per attribute key that differs, keys in sorted order, then one per variant
    /// other than the master that differs (`variants.<id>`, the variant whole or `null`), in
    /// the order they were added. A product that does not exist yet has no value in any field
    /// (`null`). Images are not listed.
    pub fn changes(&self, next: &Product) -> Vec<FieldChange> {
        let mut changes = Vec::new();
        let mut compare = |field: String, from: Value, to: Value| {
            if from != to {
                changes.push(FieldChange { field, from, to });
            }
        };
        for field in Field::all() {
            if field != Field::Detail(DetailField::Attributes) {
                compare(
                    field.name().to_string(),
                    self.value(field),
                    next.value(field),
                );
                continue;
            }
            let (before, after) = (self.attributes(), next.attributes());
            let keys: BTreeSet<&String> =
                before.iter().chain(&after).flat_map(|a| a.keys()).collect();
            for key in keys {
                let value = |attributes: Option<&Attributes>| {
                    attributes
                        .and_then(|a| a.get(key))
                        .map_or(Value::Null, AttributeValue::to_json)
                };
                compare(
                    format!("{}.{key}", field.name()),
                    value(before),
                    value(after),
                );
            }
        }
        fn others(product: &Product) -> Vec<&Variant> {
            product.variants.iter().filter(|v| !v.is_master()).collect()
        }
        let (before, after) = (others(self), others(next));
        let mut ids: Vec<&str> = before.iter().map(|v| v.id.as_str()).collect();
        ids.extend(
            after
                .iter()
                .map(|v| v.id.as_str())
                .filter(|id| !before.iter().any(|v| v.id == *id)),
        );
        for id in ids {
            let value = |variants: &[&Variant]| {
                variants.iter().find(|v| v.id == id).map_or(Value::Null, |v| {
                    serde_json::json!({
                        "sku": v.sku, "attributes": v.attributes, "prices": v.prices, "stock": v.stock
                    })
                })
            };
            compare(format!("variants.{id}"), value(&before), value(&after));
        }
        changes
    }

    /// Applies `event` with [`Aggregate::apply`], the aggregate's own fold, and returns what it
    /// changed: how history works out each entry's changes while replaying a product.
    pub fn apply_and_diff(&mut self, event: ProductEvent) -> Vec<FieldChange> {
        let before = self.clone();
        self.apply(event);
        before.changes(self)
    }

    /// The value of `field` as history shows it: `null` in every field until the product exists.
    fn value(&self, field: Field) -> Value {
        let Some(status) = self.status else {
            return Value::Null;
        };
        let master = self.master();
        match field {
            Field::Sku => Value::from(self.sku()),
            // The attributes come as the whole map; `changes` compares it key by key.
            Field::Detail(detail) => detail.value(&self.details),
            Field::Price => self
                .price()
                .map_or(Value::Null, |price| serde_json::json!(price)),
            Field::Prices => master
                .filter(|m| m.prices.len() > 1)
                .map_or(Value::Null, |m| serde_json::json!(m.prices)),
            Field::Stock => Value::from(self.stock()),
            Field::Status => Value::from(status.as_str()),
            Field::VariantAttributes => master
                .filter(|m| !m.attributes.is_empty())
                .map_or(Value::Null, |m| serde_json::json!(m.attributes)),
        }
    }

    /// The attributes as history compares them: none until the product exists.
    fn attributes(&self) -> Option<&Attributes> {
        self.status.map(|_| &self.details.attributes)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::details::Details;
    use crate::events::ImageOriginal;
    use crate::money::Money;
    use crate::product::ProductStatus;

    fn eur(amount: i64) -> Money {
        Money::new(amount, "EUR")
    }

    fn attributes(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::from(*v)))
            .collect()
    }

    fn en(text: &str) -> crate::locale::LocalizedText {
        crate::locale::LocalizedText::single(&crate::locale::Locale::default(), text)
    }

    fn details() -> Details {
        let mut details = Details::named("Red T-shirt");
        details.description = Some(en("100% cotton"));
        details.category = Some("apparel".into());
        details.attributes = attributes(&[("color", "red"), ("size", "M")]);
        details
    }

    fn created() -> ProductEvent {
        ProductEvent::ProductCreated {
            sku: "TSHIRT-1".into(),
            product_type: None,
            details: details(),
            price: eur(1999),
            stock: 5,
            variant_attributes: Default::default(),
        }
    }

    fn given(events: &[ProductEvent]) -> Product {
        Product::replay(events)
    }

    fn change(field: &str, from: Value, to: Value) -> FieldChange {
        FieldChange {
            field: field.into(),
            from,
            to,
        }
    }

    fn fields(changes: &[FieldChange]) -> Vec<&str> {
        changes.iter().map(|c| c.field.as_str()).collect()
    }

    #[test]
    fn creation_lists_every_given_field_from_null() {
        // Given no product
        let mut product = given(&[]);
        // When it is created with every field
        let changes = product.apply_and_diff(created());
        // Then every field is listed, from null
        assert_eq!(
            changes,
            [
                change("sku", Value::Null, json!("TSHIRT-1")),
                change("name", Value::Null, json!({"en": "Red T-shirt"})),
                change("description", Value::Null, json!({"en": "100% cotton"})),
                change("category", Value::Null, json!("apparel")),
                change(
                    "price",
                    Value::Null,
                    json!({"amount": 1999, "currency": "EUR"})
                ),
                change("stock", Value::Null, json!(5)),
                change("status", Value::Null, json!("draft")),
                change("attributes.color", Value::Null, json!("red")),
                change("attributes.size", Value::Null, json!("M")),
            ]
        );
        assert_eq!(product, given(&[created()]), "the event was applied");
    }

    #[test]
    fn creation_without_optional_fields_lists_only_those_given() {
        // Given no product
        let mut product = given(&[]);
        // When it is created with no description, category or attributes, and no stock
        let changes = product.apply_and_diff(ProductEvent::ProductCreated {
            sku: "MUG".into(),
            product_type: None,
            details: Details {
                name: en("Mug"),
                ..Details::default()
            },
            price: eur(500),
            stock: 0,
            variant_attributes: Default::default(),
        });
        // Then only the fields it has are listed, stock too
        assert_eq!(
            fields(&changes),
            ["sku", "name", "price", "stock", "status"]
        );
        assert_eq!(changes[3], change("stock", Value::Null, json!(0)));
    }

    #[test]
    fn a_price_change_lists_only_the_price() {
        // Given a created product
        let mut product = given(&[created()]);
        // When its price changes
        let changes = product.apply_and_diff(ProductEvent::PriceChanged {
            price: eur(2499),
            previous: eur(1999),
        });
        // Then only the price is listed, as Money
        assert_eq!(
            changes,
            [change(
                "price",
                json!({"amount": 1999, "currency": "EUR"}),
                json!({"amount": 2499, "currency": "EUR"})
            )]
        );
    }

    #[test]
    fn a_details_update_lists_each_attribute_it_changed_or_added() {
        // Given a created product with color and size
        let mut product = given(&[created()]);
        // When one attribute changes and another is added
        let changes = product.apply_and_diff(ProductEvent::DetailsUpdated {
            details: Details {
                attributes: attributes(&[("color", "blue"), ("material", "linen"), ("size", "M")]),
                ..details()
            },
            changed: vec!["attributes".into()],
        });
        // Then exactly those two attributes are listed, the new one from null
        assert_eq!(
            changes,
            [
                change("attributes.color", json!("red"), json!("blue")),
                change("attributes.material", Value::Null, json!("linen")),
            ]
        );
    }

    #[test]
    fn a_details_update_lists_cleared_fields_and_removed_attributes_to_null() {
        // Given a created product
        let mut product = given(&[created()]);
        // When its description is cleared and its size removed
        let changes = product.apply_and_diff(ProductEvent::DetailsUpdated {
            details: Details {
                description: None,
                attributes: attributes(&[("color", "red")]),
                ..details()
            },
            changed: vec!["description".into(), "attributes".into()],
        });
        // Then both go to null
        assert_eq!(
            changes,
            [
                change("description", json!({"en": "100% cotton"}), Value::Null),
                change("attributes.size", json!("M"), Value::Null),
            ]
        );
    }

    #[test]
    fn publishing_lists_the_status_from_draft_to_published() {
        // Given a draft product
        let mut product = given(&[created()]);
        // When it is published
        let changes = product.apply_and_diff(ProductEvent::ProductPublished {});
        // Then only the status is listed, as serialised
        assert_eq!(
            changes,
            [change("status", json!("draft"), json!("published"))]
        );
        assert_eq!(
            serde_json::to_value(ProductStatus::Published).unwrap(),
            changes[0].to
        );
    }

    #[test]
    fn a_stock_adjustment_lists_the_stock() {
        // Given a product with 5 in stock
        let mut product = given(&[created()]);
        // When 3 are taken
        let changes = product.apply_and_diff(ProductEvent::StockAdjusted {
            delta: -3,
            reason: "sold".into(),
            stock: 2,
        });
        // Then the stock is listed
        assert_eq!(changes, [change("stock", json!(5), json!(2))]);
    }

    #[test]
    fn an_image_event_lists_nothing() {
        // Given a created product
        let mut product = given(&[created()]);
        // When an image is attached
        let changes = product.apply_and_diff(ProductEvent::ImageAttached {
            image_id: "img-1".into(),
            original: ImageOriginal {
                key: "originals/img-1".into(),
                content_type: "image/png".into(),
                width: 10,
                height: 10,
                bytes: 100,
            },
        });
        // Then no field is listed, though the image was applied
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(product.images.len(), 1);
        // And removing it lists nothing either
        let changes = product.apply_and_diff(ProductEvent::ImageRemoved {
            image_id: "img-1".into(),
            blob_keys: vec!["originals/img-1".into()],
        });
        assert!(changes.is_empty(), "{changes:?}");
        assert!(product.images.is_empty());
    }

    #[test]
    fn the_same_state_lists_nothing() {
        // Given a product, and an update to the details it already has
        let product = given(&[created()]);
        let mut updated = product.clone();
        // When the same state is compared, or the update applied
        let same = product.changes(&product);
        let changes = updated.apply_and_diff(ProductEvent::DetailsUpdated {
            details: details(),
            changed: vec![],
        });
        // Then nothing is listed
        assert!(same.is_empty(), "{same:?}");
        assert!(changes.is_empty(), "{changes:?}");
        assert!(given(&[]).changes(&given(&[])).is_empty());
    }

    #[test]
    fn a_field_change_serialises_as_field_from_to() {
        let value = serde_json::to_value(change("stock", Value::Null, json!(5))).unwrap();
        assert_eq!(value, json!({"field": "stock", "from": null, "to": 5}));
        let back: FieldChange = serde_json::from_value(value).unwrap();
        assert_eq!(back, change("stock", Value::Null, json!(5)));
    }

    #[cfg(feature = "openapi")]
    #[test]
    fn the_schema_lets_from_and_to_be_any_json_value() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(FieldChange::schema()).unwrap();
        for side in ["from", "to"] {
            let property = &schema["properties"][side];
            assert!(property.is_object(), "{side}: {schema}");
            assert!(property.get("type").is_none(), "{side}: {property}");
        }
        assert_eq!(schema["properties"]["field"]["type"], "string");
        assert_eq!(
            schema["required"],
            json!(["field", "from", "to"]),
            "{schema}"
        );
    }
}
