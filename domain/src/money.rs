//! Prices: an amount in minor units and an ISO 4217 currency, and the currency codes the rules
//! accept.

use serde::{Deserialize, Serialize};

/// Largest amount a price may carry, in minor units (10^12, as in the HTTP contract).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// An amount of money in minor units (cents for EUR) and its ISO 4217 currency code.
///
/// Integers, never floats: a price must round-trip through JSON and SQL exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// Minor units (cents for EUR), 0 to 10^12.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub amount: i64,
    /// ISO 4217 code of three upper-case letters.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Z]{3}$", example = "EUR"))]
    pub currency: String,
}

/// Every currency code the rules accept (ISO 4217), in alphabetical order: for documents and
/// clients that list them.
pub fn currency_codes() -> Vec<String> {
    let letters = || b'A'..=b'Z';
    letters()
        .flat_map(|a| letters().flat_map(move |b| letters().map(move |c| [a, b, c])))
        .map(|code| String::from_utf8(code.to_vec()).expect("ASCII letters"))
        .filter(|code| iso_currency::Currency::from_code(code).is_some())
        .collect()
}

impl Money {
    /// `amount` minor units of `currency`, unchecked: the rules check prices in commands.
    pub fn new(amount: i64, currency: impl Into<String>) -> Self {
        Self {
            amount,
            currency: currency.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_the_iso_ones() {
        let codes = currency_codes();
        assert!(codes.len() > 150, "{}", codes.len());
        for code in ["EUR", "USD", "JPY", "CHF"] {
            assert!(codes.iter().any(|c| c == code), "{code}");
        }
        assert!(!codes.iter().any(|c| c == "QQQ"));
    }
}
