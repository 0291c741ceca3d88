//! The ProductType aggregate: a named set of typed attribute definitions that products of the
//! type are checked against. A type changes only compatibly, so that no product valid under
//! one version of its type becomes invalid under a later one.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::attributes::{AttributeValue, Attributes};
use crate::error::FieldError;
use crate::locale::{Locale, LocalizedText};
use crate::rules::{Violations, ATTRIBUTE_VALUE_MAX};

/// Longest type key, in characters.
pub const TYPE_KEY_MAX: usize = 64;
/// Most attributes one type defines.
pub const TYPE_ATTRIBUTES_MAX: usize = 100;
/// Most values one enum attribute allows.
pub const ENUM_VALUES_MAX: usize = 500;
/// Longest attribute name, in characters.
pub const ATTRIBUTE_NAME_MAX: usize = 64;
/// What a type key may hold, as forms and documents state it.
pub const TYPE_KEY_PATTERN: &str = "^[a-z0-9-]{1,64}$";
/// What an attribute name may hold.
pub const ATTRIBUTE_NAME_PATTERN: &str = "^[a-z][a-z0-9_]{0,63}$";

/// The kind of value an attribute holds.
#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AttributeKind {
    Text,
    Ltext,
    Number,
    Boolean,
    Enum,
    Date,
}

impl AttributeKind {
    /// The kind as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Ltext => "ltext",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Enum => "enum",
            Self::Date => "date",
        }
    }
}

/// Whether each product has one value of an attribute, or each of its variants its own.
#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Product,
    Variant,
}

/// One attribute a type defines.
#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AttributeDefinition))]
pub struct AttributeDefinition {
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z][a-z0-9_]{0,63}$"))]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeKind,
    #[serde(default)]
    pub required: bool,
    /// The allowed values of an `enum` attribute: 1 to 500 distinct strings. Only for `enum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    #[serde(default)]
    pub level: Level,
    /// Whether search offers counts of this attribute's values.
    #[serde(default)]
    pub facet: bool,
}

/// The ProductType aggregate. `key` is empty until the type is created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductType {
    /// The type's key, its identity: `[a-z0-9-]{1,64}`.
    pub key: String,
    /// Its name for people.
    pub name: String,
    /// Its attributes, in the order they were defined.
    pub attributes: Vec<AttributeDefinition>,
}

/// What a type can be asked to do: be defined as given, created the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefineProductType {
    /// The type's key, from the path.
    pub key: String,
    /// Its name for people.
    pub name: String,
    /// Every attribute it defines from now on.
    pub attributes: Vec<AttributeDefinition>,
}

/// The facts a type records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductTypeEvent {
    /// The type was defined for the first time.
    ProductTypeCreated {
        /// Its key, fixed for life.
        key: String,
        /// Its name.
        name: String,
        /// Its attributes.
        attributes: Vec<AttributeDefinition>,
    },
    /// The type changed compatibly; carries the whole definition afterwards.
    ProductTypeChanged {
        /// Its name afterwards.
        name: String,
        /// Its attributes afterwards.
        attributes: Vec<AttributeDefinition>,
    },
}

impl ProductTypeEvent {
    /// Every event type name [`Self::type_name`] returns.
    pub const TYPE_NAMES: &'static [&'static str] = &["ProductTypeCreated", "ProductTypeChanged"];

    /// The event's type name, as stored in `events.event_type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ProductTypeCreated { .. } => "ProductTypeCreated",
            Self::ProductTypeChanged { .. } => "ProductTypeChanged",
        }
    }
}

impl DomainEvent for ProductTypeEvent {
    fn event_type(&self) -> String {
        self.type_name().to_string()
    }

    fn event_version(&self) -> String {
        crate::versions::current_version(self.type_name()).to_string()
    }
}

/// Why a type refused to be defined as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductTypeError {
    /// The definition breaks a rule: every broken rule, not just the first.
    #[error("invalid product type")]
    Invalid(Vec<FieldError>),
    /// The definition would change the type incompatibly: every such change.
    #[error("incompatible change of a product type")]
    Incompatible(Vec<FieldError>),
}

impl ProductType {
    /// Whether the type has been created.
    pub fn exists(&self) -> bool {
        !self.key.is_empty()
    }

    /// The definition of attribute `name`, if the type has it.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDefinition> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The events that define the type as `define` asks: none when it already is so.
    pub fn decide(
        &self,
        define: DefineProductType,
    ) -> Result<Vec<ProductTypeEvent>, ProductTypeError> {
        let mut violations = Violations::default();
        check_definition(&define, &mut violations);
        violations
            .into_result()
            .map_err(ProductTypeError::Invalid)?;
        if !self.exists() {
            return Ok(vec![ProductTypeEvent::ProductTypeCreated {
                key: define.key,
                name: define.name,
                attributes: define.attributes,
            }]);
        }
        if self.name == define.name && self.attributes == define.attributes {
            return Ok(vec![]);
        }
        let incompatible = self.incompatibilities(&define.attributes);
        if !incompatible.is_empty() {
            return Err(ProductTypeError::Incompatible(incompatible));
        }
        Ok(vec![ProductTypeEvent::ProductTypeChanged {
            name: define.name,
            attributes: define.attributes,
        }])
    }

    /// Every change from the current attributes to `next` that could make a product valid now
    /// invalid, or change what its stored values mean.
    fn incompatibilities(&self, next: &[AttributeDefinition]) -> Vec<FieldError> {
        let mut found = Vec::new();
        for old in &self.attributes {
            // Named as the request names it: by its index in the new list.
            let Some((i, new)) = next.iter().enumerate().find(|(_, a)| a.name == old.name) else {
                found.push(FieldError::new(
                    "attributes",
                    format!("attribute {} cannot be removed or renamed", old.name),
                ));
                continue;
            };
            let field = |leaf: &str| format!("attributes[{i}]{leaf}");
            if new.kind != old.kind {
                found.push(FieldError::new(
                    field(".type"),
                    format!(
                        "{} is {}: its type cannot change to {}",
                        old.name,
                        old.kind.as_str(),
                        new.kind.as_str()
                    ),
                ));
            }
            if new.level != old.level {
                found.push(FieldError::new(
                    field(".level"),
                    format!("the level of {} cannot change", old.name),
                ));
            }
            if new.required && !old.required {
                found.push(FieldError::new(
                    field(".required"),
                    format!(
                        "{} cannot become required: products exist without it",
                        old.name
                    ),
                ));
            }
            let removed: Vec<&String> = old
                .values
                .iter()
                .flatten()
                .filter(|v| !new.values.iter().flatten().any(|n| n == *v))
                .collect();
            if new.kind == old.kind && !removed.is_empty() {
                found.push(FieldError::new(
                    field(".values"),
                    format!(
                        "values of {} cannot be removed: {}",
                        old.name,
                        removed
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        for (i, new) in next.iter().enumerate() {
            if new.required && self.attribute(&new.name).is_none() {
                found.push(FieldError::new(
                    format!("attributes[{i}].required"),
                    format!("{} is new: it can only be added as optional", new.name),
                ));
            }
        }
        found
    }

    /// Checks a product's `attributes` against the type's product-level definitions, adding
    /// each broken rule to `violations` as `attributes.<name>`, and answers them as stored: an
    /// `ltext` given as a plain string becomes a text in `default`. `attributes` are the
    /// product's whole set (an update replaces them whole), so a required one missing is
    /// reported too.
    pub fn check_attributes(
        &self,
        attributes: Attributes,
        default: &Locale,
        violations: &mut Violations,
    ) -> Attributes {
        self.check_level(
            Level::Product,
            "attributes",
            attributes,
            default,
            violations,
            true,
        )
    }

    /// Checks a variant's `attributes` against the type's `level: "variant"` definitions, as
    /// [`Self::check_attributes`] does a product's. Required ones are required of every variant
    /// but the master, whose variant attributes are optional (a v1 product's master has none).
    /// Broken rules are reported under `field` (`attributes` or `variant_attributes`).
    pub fn check_variant_attributes(
        &self,
        field: &str,
        attributes: Attributes,
        master: bool,
        default: &Locale,
        violations: &mut Violations,
    ) -> Attributes {
        self.check_level(
            Level::Variant,
            field,
            attributes,
            default,
            violations,
            !master,
        )
    }

    fn check_level(
        &self,
        level: Level,
        field: &str,
        attributes: Attributes,
        default: &Locale,
        violations: &mut Violations,
        required: bool,
    ) -> Attributes {
        let mut checked = Attributes::new();
        let prefix = field;
        for (name, value) in attributes {
            let field = format!("{prefix}.{}", name.escape_default());
            let Some(definition) = self.attribute(&name) else {
                violations.push(
                    field,
                    format!("is not an attribute of the type {}", self.key),
                );
                continue;
            };
            if definition.level != level {
                violations.push(
                    field,
                    match definition.level {
                        Level::Variant => {
                            "is a variant attribute: each variant holds its own value"
                        }
                        Level::Product => "is a product attribute: the product holds its value",
                    },
                );
                continue;
            }
            if let Some(value) = definition.check(&field, value, default, violations) {
                checked.insert(name, value);
            }
        }
        for definition in &self.attributes {
            if required
                && definition.required
                && definition.level == level
                && !checked.contains_key(&definition.name)
                && !violations.names(&format!("{prefix}.{}", definition.name))
            {
                violations.push(format!("{prefix}.{}", definition.name), "is required");
            }
        }
        checked
    }
}

impl AttributeDefinition {
    /// `value` checked against this definition, as stored; `None` when it breaks a rule (added
    /// to `violations` as `field`).
    fn check(
        &self,
        field: &str,
        value: AttributeValue,
        default: &Locale,
        violations: &mut Violations,
    ) -> Option<AttributeValue> {
        let expected = match (self.kind, value) {
            (AttributeKind::Text, AttributeValue::Text(text)) => {
                violations.text_at_most(field, &text, ATTRIBUTE_VALUE_MAX);
                return Some(AttributeValue::Text(text));
            }
            (AttributeKind::Ltext, AttributeValue::Text(text)) => {
                violations.text_at_most(field, &text, ATTRIBUTE_VALUE_MAX);
                return Some(AttributeValue::Localized(LocalizedText::single(
                    default, text,
                )));
            }
            (AttributeKind::Ltext, AttributeValue::Localized(texts)) => {
                let texts = texts.check(field, violations, |v, f, t| {
                    v.text_at_most(f, t, ATTRIBUTE_VALUE_MAX);
                });
                return Some(AttributeValue::Localized(texts));
            }
            (AttributeKind::Number, value @ AttributeValue::Number(_))
            | (AttributeKind::Boolean, value @ AttributeValue::Boolean(_)) => return Some(value),
            (AttributeKind::Enum, AttributeValue::Text(text)) => {
                let allowed = self.values.iter().flatten().any(|v| *v == text);
                if !allowed {
                    violations.push(
                        field,
                        format!(
                            "must be one of: {}",
                            self.values
                                .iter()
                                .flatten()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
                return allowed.then_some(AttributeValue::Text(text));
            }
            (AttributeKind::Date, AttributeValue::Text(text)) => {
                let valid = text.len() == 10
                    && chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").is_ok();
                if !valid {
                    violations.push(field, "must be a date as YYYY-MM-DD");
                }
                return valid.then_some(AttributeValue::Text(text));
            }
            (AttributeKind::Text | AttributeKind::Enum | AttributeKind::Date, value) => {
                ("a string", value)
            }
            (AttributeKind::Ltext, value) => {
                ("a string or an object of locale tags to strings", value)
            }
            (AttributeKind::Number, value) => ("a number", value),
            (AttributeKind::Boolean, value) => ("a boolean", value),
        };
        violations.push(
            field,
            format!(
                "must be {} ({} attribute), not {}",
                expected.0,
                self.kind.as_str(),
                expected.1.kind()
            ),
        );
        None
    }
}

/// Whether `key` matches [`TYPE_KEY_PATTERN`].
pub fn is_type_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= TYPE_KEY_MAX
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `name` matches [`ATTRIBUTE_NAME_PATTERN`].
pub fn is_attribute_name(name: &str) -> bool {
    name.len() <= ATTRIBUTE_NAME_MAX
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The rules of a definition (key, name, attributes), each broken one added to `violations`.
fn check_definition(define: &DefineProductType, violations: &mut Violations) {
    if !is_type_key(&define.key) {
        violations.push("key", format!("must match {TYPE_KEY_PATTERN}"));
    }
    violations.name(&define.name);
    if define.attributes.len() > TYPE_ATTRIBUTES_MAX {
        violations.push(
            "attributes",
            format!("must define at most {TYPE_ATTRIBUTES_MAX} attributes"),
        );
    }
    for (i, attribute) in define.attributes.iter().enumerate() {
        let field = |leaf: &str| format!("attributes[{i}].{leaf}");
        let name = &attribute.name;
        if !is_attribute_name(name) {
            violations.push(
                field("name"),
                format!("must match {ATTRIBUTE_NAME_PATTERN}"),
            );
        }
        if define.attributes[..i].iter().any(|a| a.name == *name) {
            violations.push(field("name"), format!("{name} is defined twice"));
        }
        match (&attribute.values, attribute.kind) {
            (None, AttributeKind::Enum) => {
                violations.push(field("values"), "an enum attribute needs its values");
            }
            (Some(values), AttributeKind::Enum) => {
                if values.is_empty() || values.len() > ENUM_VALUES_MAX {
                    violations.push(
                        field("values"),
                        format!("must hold 1 to {ENUM_VALUES_MAX} values"),
                    );
                }
                for (j, value) in values.iter().enumerate() {
                    if values[..j].contains(value) {
                        violations.push(field("values"), format!("'{value}' is listed twice"));
                    }
                    if value.trim().is_empty() {
                        violations.push(field("values"), "values must not be blank");
                    }
                    violations.text_at_most(&field("values"), value, ATTRIBUTE_VALUE_MAX);
                }
            }
            (Some(_), kind) => violations.push(
                field("values"),
                format!("only enum attributes have values, not {}", kind.as_str()),
            ),
            (None, _) => {}
        }
    }
}

impl Aggregate for ProductType {
    const TYPE: &'static str = "ProductType";
    type Command = DefineProductType;
    type Event = ProductTypeEvent;
    type Error = ProductTypeError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ProductTypeEvent::ProductTypeCreated {
                key,
                name,
                attributes,
            } => {
                self.key = key;
                self.name = name;
                self.attributes = attributes;
            }
            ProductTypeEvent::ProductTypeChanged { name, attributes } => {
                self.name = name;
                self.attributes = attributes;
            }
        }
    }
}
