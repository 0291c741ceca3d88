//! A product's attributes: free strings on an untyped product (v1's rules), typed values on a
//! product of a [`ProductType`](crate::product_type::ProductType), whose definitions check them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::locale::{LocalizedText, Wanted};
use crate::rules::{Violations, ATTRIBUTES_MAX, ATTRIBUTE_KEY_MAX, ATTRIBUTE_VALUE_MAX};

/// A product's attributes by name.
pub type Attributes = BTreeMap<String, AttributeValue>;

/// One attribute's value, as JSON carries it: a string (free text, an enum value, a date, or an
/// `ltext` in the default locale), a number, a boolean, or a text in several locales.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum AttributeValue {
    /// A string.
    Text(String),
    /// A JSON number.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    Number(serde_json::Number),
    /// `true` or `false`.
    Boolean(bool),
    /// An `ltext` attribute's texts, tag → text.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    Localized(LocalizedText),
}

impl AttributeValue {
    /// The value as JSON, as history shows it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an attribute value serialises")
    }

    /// The JSON type of the value, for messages: `a string`, `a number`, ….
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text(_) => "a string",
            Self::Number(_) => "a number",
            Self::Boolean(_) => "a boolean",
            Self::Localized(_) => "an object",
        }
    }

    /// The value a reader who wants `wanted` is served: a localized text becomes its text in the
    /// chosen locale, anything else stays as it is.
    pub fn localized(&self, wanted: &Wanted) -> Self {
        match self {
            Self::Localized(texts) => Self::Text(
                texts
                    .pick(wanted)
                    .map_or_else(String::new, |(_, t)| t.to_string()),
            ),
            other => other.clone(),
        }
    }
}

impl From<&str> for AttributeValue {
    fn from(text: &str) -> Self {
        Self::Text(text.to_string())
    }
}

/// The string values of `attributes`, or the name of the first value that is not a string:
/// an untyped product's attributes are strings, as in v1.
pub fn untyped(attributes: &Attributes) -> Result<BTreeMap<&str, &str>, String> {
    attributes
        .iter()
        .map(|(key, value)| match value {
            AttributeValue::Text(text) => Ok((key.as_str(), text.as_str())),
            _ => Err(key.clone()),
        })
        .collect()
}

impl Violations {
    /// An untyped product's attributes (v1's rules): at most [`ATTRIBUTES_MAX`] entries, keys
    /// of 1 to [`ATTRIBUTE_KEY_MAX`] characters, values of at most [`ATTRIBUTE_VALUE_MAX`], no
    /// NUL in either. A broken rule of one entry is reported as `attributes.<key>`.
    pub fn attributes(&mut self, attributes: &BTreeMap<&str, &str>) {
        self.attributes_under("attributes", attributes);
    }

    /// Strings under v1's rules for attributes, reported under `field` (`attributes`,
    /// `variant_attributes`) and `<field>.<key>`.
    pub fn attributes_under(&mut self, field: &str, attributes: &BTreeMap<&str, &str>) {
        if attributes.len() > ATTRIBUTES_MAX {
            self.push(field, format!("must have at most {ATTRIBUTES_MAX} entries"));
        }
        for (key, value) in attributes {
            let key_len = key.chars().count();
            if key_len == 0 || key_len > ATTRIBUTE_KEY_MAX {
                self.push(
                    format!("{field}.{key}"),
                    format!("key must be 1 to {ATTRIBUTE_KEY_MAX} characters"),
                );
            }
            if value.chars().count() > ATTRIBUTE_VALUE_MAX {
                self.push(
                    format!("{field}.{key}"),
                    format!("value must be at most {ATTRIBUTE_VALUE_MAX} characters"),
                );
            }
            if key.contains('\0') || value.contains('\0') {
                self.push(
                    format!("{field}.{}", key.escape_default()),
                    "must not contain the NUL character (U+0000)",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locale::Locale;

    fn errors(attributes: &[(&str, &str)]) -> Vec<String> {
        crate::rules::broken(|v| v.attributes(&attributes.iter().copied().collect()))
    }

    #[test]
    fn untyped_attributes_are_bounded_in_count_key_and_value() {
        let keys: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
        let many: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
        assert_eq!(errors(&many), ["attributes"]);
        assert_eq!(errors(&[(&"k".repeat(101), "v")]).len(), 1);
        assert_eq!(errors(&[("", "v")]), ["attributes."]);
        assert_eq!(errors(&[("k", &"v".repeat(1001))]), ["attributes.k"]);
        assert!(errors(&[(&"k".repeat(100), &"v".repeat(1000))]).is_empty());
        assert_eq!(errors(&[("k\0", "v")]).len(), 1);
        assert_eq!(errors(&[("k", "v\0")]).len(), 1);
    }

    #[test]
    fn values_read_as_the_json_type_they_are() {
        let parsed: Attributes = serde_json::from_str(
            r#"{"a": "red", "b": 4.5, "c": true, "d": {"de": "Baumwolle", "en": "Cotton"}}"#,
        )
        .unwrap();
        assert_eq!(parsed["a"], AttributeValue::Text("red".into()));
        assert!(matches!(parsed["b"], AttributeValue::Number(_)));
        assert_eq!(parsed["c"], AttributeValue::Boolean(true));
        let wanted = Wanted {
            accepted: vec![Locale::parse("de-AT").unwrap()],
            default: Locale::default(),
        };
        assert_eq!(
            parsed["d"].localized(&wanted),
            AttributeValue::Text("Baumwolle".into())
        );
        assert_eq!(untyped(&parsed).unwrap_err(), "b");
        // v1's attributes, strings only, read back unchanged
        let v1: Attributes = serde_json::from_str(r#"{"color": "red"}"#).unwrap();
        assert_eq!(untyped(&v1).unwrap(), BTreeMap::from([("color", "red")]));
    }
}
