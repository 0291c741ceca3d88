//! Field rules of the HTTP contract. Each check appends to a list so that a client learns every
//! broken rule of a request at once, not one per round trip.

use std::collections::BTreeMap;

use crate::error::FieldError;
use crate::money::{Money, MAX_AMOUNT};

/// Longest `sku`, in characters; it must have at least one.
pub const SKU_MAX: usize = 64;
/// Longest `name`, in characters.
pub const NAME_MAX: usize = 200;
/// Longest `description`, in characters.
pub const DESCRIPTION_MAX: usize = 5000;
/// Longest `category`, in characters.
pub const CATEGORY_MAX: usize = 100;
/// Most entries in `attributes`.
pub const ATTRIBUTES_MAX: usize = 50;
/// Longest key in `attributes`, in characters; a key must have at least one.
pub const ATTRIBUTE_KEY_MAX: usize = 100;
/// Longest value in `attributes`, in characters.
pub const ATTRIBUTE_VALUE_MAX: usize = 1000;
/// Longest `reason` of a stock adjustment or an image failure, in characters.
pub const REASON_MAX: usize = 200;

/// What a SKU may hold, as the regular expression documents and forms state: letters A-Z and
/// a-z, digits, '.', '_' and '-' (the check is [`Violations::sku`]).
pub const SKU_PATTERN: &str = "^[A-Za-z0-9._-]+$";

/// The longest value of each text field, in characters, under the name a client sends it as:
/// what forms and documents state, from the constants the checks use.
pub const TEXT_LIMITS: [(&str, usize); 5] = [
    ("sku", SKU_MAX),
    ("name", NAME_MAX),
    ("description", DESCRIPTION_MAX),
    ("category", CATEGORY_MAX),
    ("reason", REASON_MAX),
];

/// Collects the fields that break a rule.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    /// Records that `field` broke the rule `message` states.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok` when no rule was broken, else every violation in the order found.
    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }

    /// A SKU: 1 to [`SKU_MAX`] characters, each allowed by [`SKU_PATTERN`].
    pub fn sku(&mut self, sku: &str) {
        let len = sku.chars().count();
        if len == 0 || len > SKU_MAX {
            self.push("sku", format!("must be 1 to {SKU_MAX} characters"));
        } else if !sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            self.push(
                "sku",
                "may contain only letters A-Z, a-z, digits, '.', '_' and '-'",
            );
        }
    }

    /// A name: at most [`NAME_MAX`] characters, not blank, no NUL.
    pub fn name(&mut self, name: &str) {
        let len = name.chars().count();
        if len > NAME_MAX {
            self.push("name", format!("must be at most {NAME_MAX} characters"));
        } else if name.trim().is_empty() {
            self.push("name", "must not be blank");
        } else {
            self.storable("name", name);
        }
    }

    /// PostgreSQL text and jsonb cannot hold U+0000, so no text that is stored may contain it.
    fn storable(&mut self, field: &str, value: &str) {
        if value.contains('\0') {
            self.push(field, "must not contain the NUL character (U+0000)");
        }
    }

    /// A description, if given: at most [`DESCRIPTION_MAX`] characters, no NUL.
    pub fn description(&mut self, description: Option<&str>) {
        self.at_most("description", description, DESCRIPTION_MAX);
    }

    /// A category, if given: at most [`CATEGORY_MAX`] characters, no NUL.
    pub fn category(&mut self, category: Option<&str>) {
        self.at_most("category", category, CATEGORY_MAX);
    }

    fn at_most(&mut self, field: &str, value: Option<&str>, max: usize) {
        if value.is_some_and(|v| v.chars().count() > max) {
            self.push(field, format!("must be at most {max} characters"));
        } else if let Some(value) = value {
            self.storable(field, value);
        }
    }

    /// Attributes: at most [`ATTRIBUTES_MAX`] entries, keys of 1 to [`ATTRIBUTE_KEY_MAX`]
    /// characters, values of at most [`ATTRIBUTE_VALUE_MAX`], no NUL in either. A broken rule of
    /// one entry is reported as `attributes.<key>`.
    pub fn attributes(&mut self, attributes: &BTreeMap<String, String>) {
        if attributes.len() > ATTRIBUTES_MAX {
            self.push(
                "attributes",
                format!("must have at most {ATTRIBUTES_MAX} entries"),
            );
        }
        for (key, value) in attributes {
            let key_len = key.chars().count();
            if key_len == 0 || key_len > ATTRIBUTE_KEY_MAX {
                self.push(
                    format!("attributes.{key}"),
                    format!("key must be 1 to {ATTRIBUTE_KEY_MAX} characters"),
                );
            }
            if value.chars().count() > ATTRIBUTE_VALUE_MAX {
                self.push(
                    format!("attributes.{key}"),
                    format!("value must be at most {ATTRIBUTE_VALUE_MAX} characters"),
                );
            }
            if key.contains('\0') || value.contains('\0') {
                self.push(
                    format!("attributes.{}", key.escape_default()),
                    "must not contain the NUL character (U+0000)",
                );
            }
        }
    }

    /// `field` is the prefix the client used: `price` in a create, empty for a price change.
    pub fn money(&mut self, field: &str, money: &Money) {
        let name = |leaf: &str| {
            if field.is_empty() {
                leaf.to_string()
            } else {
                format!("{field}.{leaf}")
            }
        };
        if !(0..=MAX_AMOUNT).contains(&money.amount) {
            self.push(
                name("amount"),
                format!("must be an integer from 0 to {MAX_AMOUNT} (minor units)"),
            );
        }
        let well_formed =
            money.currency.len() == 3 && money.currency.chars().all(|c| c.is_ascii_uppercase());
        if !well_formed || iso_currency::Currency::from_code(&money.currency).is_none() {
            self.push(
                name("currency"),
                "must be an ISO 4217 currency code of three upper-case letters",
            );
        }
    }

    /// A stock level: not negative.
    pub fn stock(&mut self, stock: i64) {
        if stock < 0 {
            self.push("stock", "must not be negative");
        }
    }

    /// A stock adjustment: not zero.
    pub fn delta(&mut self, delta: i64) {
        if delta == 0 {
            self.push("delta", "must not be zero");
        }
    }

    /// A reason, reported as `field`: at most [`REASON_MAX`] characters, not blank, no NUL.
    pub fn reason(&mut self, field: &str, reason: &str) {
        let len = reason.chars().count();
        if len > REASON_MAX {
            self.push(field, format!("must be at most {REASON_MAX} characters"));
        } else if reason.trim().is_empty() {
            self.push(field, "must not be blank");
        } else {
            self.storable(field, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(check: impl FnOnce(&mut Violations)) -> Vec<String> {
        let mut v = Violations::default();
        check(&mut v);
        v.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn sku_accepts_the_documented_alphabet_and_length() {
        assert!(errors(|v| v.sku("Ab-1.2_3")).is_empty());
        assert!(errors(|v| v.sku(&"a".repeat(64))).is_empty());
        assert_eq!(errors(|v| v.sku(&"a".repeat(65))), ["sku"]);
        assert_eq!(errors(|v| v.sku("")), ["sku"]);
        assert_eq!(errors(|v| v.sku("a b")), ["sku"]);
        assert_eq!(errors(|v| v.sku("é")), ["sku"]);
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(errors(|v| v.name(&"é".repeat(200))).is_empty());
        assert_eq!(errors(|v| v.name(&"é".repeat(201))), ["name"]);
        assert_eq!(errors(|v| v.name("   ")), ["name"]);
        assert!(errors(|v| v.description(Some(&"x".repeat(5000)))).is_empty());
        assert_eq!(
            errors(|v| v.description(Some(&"x".repeat(5001)))),
            ["description"]
        );
        assert_eq!(errors(|v| v.category(Some(&"x".repeat(101)))), ["category"]);
    }

    #[test]
    fn money_needs_a_bounded_amount_and_a_real_currency() {
        assert!(errors(|v| v.money("price", &Money::new(0, "EUR"))).is_empty());
        assert!(errors(|v| v.money("price", &Money::new(MAX_AMOUNT, "USD"))).is_empty());
        assert_eq!(
            errors(|v| v.money("price", &Money::new(MAX_AMOUNT + 1, "EUR"))),
            ["price.amount"]
        );
        assert_eq!(errors(|v| v.money("", &Money::new(-1, "EUR"))), ["amount"]);
        for bad in ["eur", "EU", "EURO", "QQQ", ""] {
            assert_eq!(
                errors(|v| v.money("", &Money::new(1, bad))),
                ["currency"],
                "{bad}"
            );
        }
    }

    #[test]
    fn attributes_are_bounded_in_count_key_and_value() {
        let many: BTreeMap<_, _> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(errors(|v| v.attributes(&many)), ["attributes"]);
        let long_key = BTreeMap::from([("k".repeat(101), "v".to_string())]);
        assert_eq!(errors(|v| v.attributes(&long_key)).len(), 1);
        let empty_key = BTreeMap::from([(String::new(), "v".to_string())]);
        assert_eq!(errors(|v| v.attributes(&empty_key)), ["attributes."]);
        let long_value = BTreeMap::from([("k".to_string(), "v".repeat(1001))]);
        assert_eq!(errors(|v| v.attributes(&long_value)), ["attributes.k"]);
        let fine = BTreeMap::from([("k".repeat(100), "v".repeat(1000))]);
        assert!(errors(|v| v.attributes(&fine)).is_empty());
    }

    #[test]
    fn reasons_and_deltas() {
        assert_eq!(errors(|v| v.reason("reason", "")), ["reason"]);
        assert_eq!(errors(|v| v.reason("reason", &"r".repeat(201))), ["reason"]);
        assert!(errors(|v| v.reason("reason", "restock")).is_empty());
        assert_eq!(errors(|v| v.delta(0)), ["delta"]);
        assert!(errors(|v| v.delta(-3)).is_empty());
        assert_eq!(errors(|v| v.stock(-1)), ["stock"]);
    }

    #[test]
    fn stored_text_cannot_hold_nul() {
        assert_eq!(errors(|v| v.name("a\0b")), ["name"]);
        assert_eq!(errors(|v| v.description(Some("\0"))), ["description"]);
        assert_eq!(errors(|v| v.category(Some("x\0"))), ["category"]);
        assert_eq!(errors(|v| v.reason("reason", "why\0")), ["reason"]);
        let key = BTreeMap::from([("k\0".to_string(), "v".to_string())]);
        assert_eq!(errors(|v| v.attributes(&key)).len(), 1);
        let value = BTreeMap::from([("k".to_string(), "v\0".to_string())]);
        assert_eq!(errors(|v| v.attributes(&value)).len(), 1);
    }
}
