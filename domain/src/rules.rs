//! Field rules of the HTTP contract. Each check appends to a list so that a client learns every
//! broken rule of a request at once, not one per round trip.

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

/// The fields `check` finds broken, in the order found: how the rules' tests read a check.
#[cfg(test)]
pub(crate) fn broken(check: impl FnOnce(&mut Violations)) -> Vec<String> {
    let mut violations = Violations::default();
    check(&mut violations);
    violations.0.into_iter().map(|e| e.field).collect()
}

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
        self.name_text("name", name);
    }

    /// A name's text in one locale, reported as `field`: the rules of [`Violations::name`].
    pub fn name_text(&mut self, field: &str, name: &str) {
        let len = name.chars().count();
        if len > NAME_MAX {
            self.push(field, format!("must be at most {NAME_MAX} characters"));
        } else if name.trim().is_empty() {
            self.push(field, "must not be blank");
        } else {
            self.storable(field, name);
        }
    }

    /// Whether a broken rule of `field` was recorded already.
    pub fn names(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    /// PostgreSQL text and jsonb cannot hold U+0000, so no text that is stored may contain it.
    fn storable(&mut self, field: &str, value: &str) {
        if value.contains('\0') {
            self.push(field, "must not contain the NUL character (U+0000)");
        }
    }

    /// A category, if given: at most [`CATEGORY_MAX`] characters, no NUL.
    pub fn category(&mut self, category: Option<&str>) {
        if let Some(category) = category {
            self.text_at_most("category", category, CATEGORY_MAX);
        }
    }

    /// A text, reported as `field`: at most `max` characters, no NUL.
    pub fn text_at_most(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.push(field, format!("must be at most {max} characters"));
        } else {
            self.storable(field, value);
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

    use super::broken as errors;

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
        assert!(errors(|v| v.text_at_most("description", &"x".repeat(5000), 5000)).is_empty());
        assert_eq!(
            errors(|v| v.text_at_most("description", &"x".repeat(5001), 5000)),
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
        assert_eq!(
            errors(|v| v.text_at_most("description", "\0", 9)),
            ["description"]
        );
        assert_eq!(errors(|v| v.category(Some("x\0"))), ["category"]);
        assert_eq!(errors(|v| v.reason("reason", "why\0")), ["reason"]);
    }
}
