//! A product's descriptive fields, in one place: their values ([`Details`]), a partial change of
//! them ([`UpdateDetails`]), their names ([`DetailField`]), their rules and how a change merges.
//! A new descriptive field is declared here (docs/ARCHITECTURE.md, "Adding a field", lists the
//! few other places that name it).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attributes::{self, Attributes};
use crate::locale::{Locale, LocalizedText, TextInput};
use crate::product_type::ProductType;
use crate::rules::{Violations, DESCRIPTION_MAX};

/// The descriptive fields of a product, carried whole by the events that set them so that a
/// read model can overwrite instead of merging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    /// Display name in one or more locales: never blank in any.
    pub name: LocalizedText,
    /// Free-text description in one or more locales; `None` when the product has none.
    pub description: Option<LocalizedText>,
    /// Category, free text; `None` when the product has none.
    pub category: Option<String>,
    /// Strings on an untyped product (`color: red`), values checked by its type on a typed one;
    /// replaced whole by an update, never merged.
    pub attributes: Attributes,
}

impl Details {
    /// Details with `name` in the contract's default locale (`en`) and nothing else.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: LocalizedText::single(&Locale::default(), name),
            ..Self::default()
        }
    }
}

/// What checking and storing details needs beyond the request: the product's type, if it has
/// one, and the locale plain strings are in.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The definition of the product's type (of the type a create names); `None` for an
    /// untyped product, or when the named type does not exist.
    pub product_type: Option<&'a ProductType>,
    /// `DEFAULT_LOCALE`: the locale of a text given as a plain string.
    pub default_locale: &'a Locale,
}

/// A partial change of the descriptive fields. For the optional fields the outer `Option` says
/// whether the field is being changed, the inner one whether it is being set or cleared. Texts
/// and attributes are as the client sent them: [`UpdateDetails::applied_to`] checks them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateDetails {
    /// The new name, if it changes (a name cannot be cleared).
    pub name: Option<TextInput>,
    /// The new description if `Some(Some(_))`, cleared if `Some(None)`.
    pub description: Option<Option<TextInput>>,
    /// The new category if `Some(Some(_))`, cleared if `Some(None)`.
    pub category: Option<Option<String>>,
    /// The whole new attribute map, replacing the current one: not merged key by key.
    pub attributes: Option<Attributes>,
}

impl UpdateDetails {
    /// Whether the update names no field at all: such an update is refused, not a no-op.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.category.is_none()
            && self.attributes.is_none()
    }

    /// `current` with the fields this update names replaced, each checked under its rules
    /// (broken ones added to `violations`) and stored in its canonical form: plain texts in the
    /// default locale, locale tags in canonical case, typed attributes as their type defines.
    pub fn applied_to(
        self,
        current: &Details,
        context: Context<'_>,
        violations: &mut Violations,
    ) -> Details {
        let locale = context.default_locale;
        let name = match self.name {
            Some(name) => name.checked("name", locale, violations, |v, field, text| {
                v.name_text(field, text);
            }),
            None => current.name.clone(),
        };
        let description = match self.description {
            Some(description) => description.map(|text| {
                text.checked("description", locale, violations, |v, field, text| {
                    v.text_at_most(field, text, DESCRIPTION_MAX);
                })
            }),
            None => current.description.clone(),
        };
        let category = self.category.unwrap_or_else(|| current.category.clone());
        violations.category(category.as_deref());
        let attributes = match (self.attributes, context.product_type) {
            (None, _) => current.attributes.clone(),
            (Some(given), Some(product_type)) => {
                product_type.check_attributes(given, locale, violations)
            }
            (Some(given), None) => {
                // Values other than strings were refused before, as wrong types.
                if let Ok(strings) = attributes::untyped(&given) {
                    violations.attributes(&strings);
                }
                given
            }
        };
        Details {
            name,
            description,
            category,
            attributes,
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
            Self::Name => serde_json::to_value(&details.name).expect("a text serialises"),
            Self::Description => {
                serde_json::to_value(&details.description).expect("a text serialises")
            }
            Self::Category => Value::from(details.category.clone()),
            Self::Attributes => {
                serde_json::to_value(&details.attributes).expect("attributes serialise")
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
