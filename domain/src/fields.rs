//! The fields of a product as the HTTP contract names them, declared once. The `changed` list of
//! `DetailsUpdated`, the refusal of an update that names no field and the changes of a product's
//! history all read their names and their order from here.

use crate::events::Details;

/// A descriptive field of a product: one of the parts of [`Details`], which an update may
/// change in any combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailField {
    Name,
    Description,
    Category,
    Attributes,
}

impl DetailField {
    /// Every detail field, in the order `DetailsUpdated.changed` names them and the refusal of an
    /// empty update lists them.
    pub const ALL: [Self; 4] = [
        Self::Name,
        Self::Description,
        Self::Category,
        Self::Attributes,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Description => "description",
            Self::Category => "category",
            Self::Attributes => "attributes",
        }
    }

    /// Whether `a` and `b` hold different values of this field.
    pub fn differs(self, a: &Details, b: &Details) -> bool {
        match self {
            Self::Name => a.name != b.name,
            Self::Description => a.description != b.description,
            Self::Category => a.category != b.category,
            Self::Attributes => a.attributes != b.attributes,
        }
    }

    /// The detail fields whose value differs between `a` and `b`, in [`DetailField::ALL`] order.
    pub fn changed(a: &Details, b: &Details) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|field| field.differs(a, b))
            .collect()
    }

    /// The names of every detail field, as a list for people: `name, description, …`.
    pub fn listed() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

/// A field of a product as history lists its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Sku,
    Detail(DetailField),
    Price,
    Stock,
    Status,
}

impl Field {
    /// Every field, in the order history lists their changes. Attributes come last: their
    /// changes are listed one key at a time, as `attributes.<key>`. Images are not fields.
    pub const ALL: [Self; 8] = [
        Self::Sku,
        Self::Detail(DetailField::Name),
        Self::Detail(DetailField::Description),
        Self::Detail(DetailField::Category),
        Self::Price,
        Self::Stock,
        Self::Status,
        Self::Detail(DetailField::Attributes),
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Sku => "sku",
            Self::Detail(detail) => detail.name(),
            Self::Price => "price",
            Self::Stock => "stock",
            Self::Status => "status",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details() -> Details {
        Details {
            name: "Red T-shirt".into(),
            description: Some("100% cotton".into()),
            category: Some("apparel".into()),
            attributes: [("color".to_string(), "red".to_string())].into(),
        }
    }

    #[test]
    fn the_detail_fields_are_named_as_the_contract_names_them() {
        assert_eq!(
            DetailField::ALL.map(DetailField::name),
            ["name", "description", "category", "attributes"]
        );
        assert_eq!(
            DetailField::listed(),
            "name, description, category, attributes"
        );
    }

    #[test]
    fn history_lists_every_field_once_in_the_console_order() {
        assert_eq!(
            Field::ALL.map(Field::name),
            [
                "sku",
                "name",
                "description",
                "category",
                "price",
                "stock",
                "status",
                "attributes"
            ]
        );
        for detail in DetailField::ALL {
            let times = Field::ALL
                .iter()
                .filter(|f| **f == Field::Detail(detail))
                .count();
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
