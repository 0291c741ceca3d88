use serde::{Deserialize, Serialize};

/// Largest amount a price may carry, in minor units (10^12, as in the HTTP contract).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// An amount of money in minor units (cents for EUR) and its ISO 4217 currency code.
///
/// Integers, never floats: a price must round-trip through JSON and SQL exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

impl Money {
    pub fn new(amount: i64, currency: impl Into<String>) -> Self {
        Self {
            amount,
            currency: currency.into(),
        }
    }
}
