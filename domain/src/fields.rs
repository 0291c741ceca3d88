//! The fields of a product as history lists their changes, in order. The descriptive ones come
//! from [`DetailField`], declared with the rest of the details in [`crate::details`], so a new
//! descriptive field joins history without an edit here.

use crate::details::DetailField;

/// A field of a product as history lists its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The SKU, set once at creation.
    Sku,
    /// One of the descriptive fields.
    Detail(DetailField),
    /// The price, listed whole as `{amount, currency}`: the master's base price.
    Price,
    /// The master's price list, when it holds more than its base price (`null` otherwise,
    /// so a change of v1's one price is listed once, as `price`).
    Prices,
    /// The stock level: the master's.
    Stock,
    /// The lifecycle status: draft, published or archived.
    Status,
    /// The master's variant-level attributes, listed whole (`null` while it has none).
    VariantAttributes,
}

impl Field {
    /// Every field, in the order history lists their changes: the SKU, the descriptive fields
    /// but the attributes, price, prices, stock, status, the master's variant attributes, and
    /// the attributes last, since their changes are listed one key at a time
    /// (`attributes.<key>`). Images are not fields; the other variants are listed after them,
    /// one entry each (`variants.<id>`).
    pub fn all() -> Vec<Self> {
        let details = DetailField::ALL
            .into_iter()
            .filter(|d| *d != DetailField::Attributes)
            .map(Self::Detail);
        std::iter::once(Self::Sku)
            .chain(details)
            .chain([Self::Price, Self::Prices, Self::Stock, Self::Status])
            .chain([
                Self::VariantAttributes,
                Self::Detail(DetailField::Attributes),
            ])
            .collect()
    }

    /// The field's name in history's changes; a changed attribute is listed under this name
    /// followed by `.<key>`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sku => "sku",
            Self::Detail(detail) => detail.name(),
            Self::Price => "price",
            Self::Prices => "prices",
            Self::Stock => "stock",
            Self::Status => "status",
            Self::VariantAttributes => "variant_attributes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::details::Details;

    fn en(text: &str) -> crate::locale::LocalizedText {
        crate::locale::LocalizedText::single(&crate::locale::Locale::default(), text)
    }

    fn details() -> Details {
        let mut details = Details::named("Red T-shirt");
        details.description = Some(en("100% cotton"));
        details.category = Some("apparel".into());
        details.attributes = [("color".to_string(), "red".into())].into();
        details
    }

    #[test]
    fn the_detail_fields_are_named_as_the_contract_names_them() {
        // The contract's first four, in its order; a field added later comes after them.
        assert_eq!(
            DetailField::ALL[..4]
                .iter()
                .map(|d| d.name())
                .collect::<Vec<_>>(),
            ["name", "description", "category", "attributes"]
        );
        assert!(DetailField::listed().starts_with("name, description, category, attributes"));
    }

    #[test]
    fn history_lists_every_field_once_in_the_console_order() {
        let all = Field::all();
        let names: Vec<&str> = all.iter().map(|f| f.name()).collect();
        // The SKU first, then the descriptive fields, the prices, stock and status, the
        // master's variant attributes, and the attributes (listed key by key) last.
        assert_eq!(names[..4], ["sku", "name", "description", "category"]);
        assert_eq!(
            names[names.len() - 6..],
            [
                "price",
                "prices",
                "stock",
                "status",
                "variant_attributes",
                "attributes"
            ]
        );
        for detail in DetailField::ALL {
            let times = all.iter().filter(|f| **f == Field::Detail(detail)).count();
            assert_eq!(times, 1, "{detail:?}");
        }
    }

    #[test]
    fn changed_names_only_the_fields_whose_value_differs() {
        // Given details
        let before = details();
        // When the description is cleared and an attribute added
        let mut after = details();
        after.description = None;
        after.attributes.insert("size".into(), "M".into());
        // Then exactly those two fields changed, in declaration order
        assert_eq!(
            DetailField::changed(&before, &after),
            [DetailField::Description, DetailField::Attributes]
        );
        assert!(DetailField::changed(&before, &before).is_empty());
    }
}
