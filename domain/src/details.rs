//! A product's descriptive fields, in one place: their values ([`Details`]), a partial change of
//! them ([`UpdateDetails`]), their names ([`DetailField`]), their rules and how a change merges.
//! A new descriptive field is declared here (docs/ARCHITECTURE.md, "Adding a field", lists the
//! few other places that name it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rules::Violations;

/// The descriptive fields of a product, carried whole by the events that set them so that a
/// read model can overwrite instead of merging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    /// Display name: never blank.
    pub name: String,
    /// Free-text description; `None` when the product has none.
    pub description: Option<String>,
    /// Category, free text; `None` when the product has none.
    pub category: Option<String>,
    /// Free-form key/value pairs (`color: red`), replaced whole by an update, never merged.
    pub attributes: BTreeMap<String, String>,
}

impl Details {
    /// Details with `name` and nothing else.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Checks every field's rule, adding each broken one to `violations`.
    pub fn check(&self, violations: &mut Violations) {
        violations.name(&self.name);
        violations.description(self.description.as_deref());
        violations.category(self.category.as_deref());
        violations.attributes(&self.attributes);
    }
}

/// A partial change of the descriptive fields. For the optional fields the outer `Option` says
/// whether the field is being changed, the inner one whether it is being set or cleared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateDetails {
    /// The new name, if it changes (a name cannot be cleared).
    pub name: Option<String>,
    /// The new description if `Some(Some(_))`, cleared if `Some(None)`.
    pub description: Option<Option<String>>,
    /// The new category if `Some(Some(_))`, cleared if `Some(None)`.
    pub category: Option<Option<String>>,
    /// The whole new attribute map, replacing the current one: not merged key by key.
    pub attributes: Option<BTreeMap<String, String>>,
}

impl UpdateDetails {
    /// Whether the update names no field at all: such an update is refused, not a no-op.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.category.is_none()
            && self.attributes.is_none()
    }

    /// Checks the rule of every field the update names.
    pub fn check(&self, violations: &mut Violations) {
        if let Some(name) = &self.name {
            violations.name(name);
        }
        if let Some(description) = &self.description {
            violations.description(description.as_deref());
        }
        if let Some(category) = &self.category {
            violations.category(category.as_deref());
        }
        if let Some(attributes) = &self.attributes {
            violations.attributes(attributes);
        }
    }

    /// `current` with the fields this update names replaced.
    pub fn applied_to(&self, current: &Details) -> Details {
        Details {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| current.description.clone()),
            category: self
                .category
                .clone()
                .unwrap_or_else(|| current.category.clone()),
            attributes: self
                .attributes
                .clone()
                .unwrap_or_else(|| current.attributes.clone()),
        }
    }
}

/// A descriptive field of a product: one of the parts of [`Details`], which an update may
/// change in any combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailField {
    /// [`Details::name`].
    Name,
    /// [`Details::description`].
    Description,
    /// [`Details::category`].
    Category,
    /// [`Details::attributes`].
    Attributes,
}

impl DetailField {
    /// Every detail field, in the order `DetailsUpdated.changed` names them, the refusal of an
    /// empty update lists them and history shows them.
    pub const ALL: [Self; 4] = [
        Self::Name,
        Self::Description,
        Self::Category,
        Self::Attributes,
    ];

    /// The field's name in the HTTP contract, in `DetailsUpdated.changed` and in history.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Description => "description",
            Self::Category => "category",
            Self::Attributes => "attributes",
        }
    }

    /// The field's value in `details`, as JSON: how history shows it and compares it.
    pub fn value(self, details: &Details) -> Value {
        match self {
            Self::Name => Value::from(details.name.as_str()),
            Self::Description => Value::from(details.description.clone()),
            Self::Category => Value::from(details.category.clone()),
            Self::Attributes => {
                serde_json::to_value(&details.attributes).expect("a map of strings serialises")
            }
        }
    }

    /// Whether `a` and `b` hold different values of this field. Compared in place, not through
    /// [`DetailField::value`]: every details update asks, and JSON would copy the values.
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
