//! Price lists (Catalog 2, "Prices"): a variant's prices by currency, channel and validity
//! window, the rules a list keeps, and the selection every read makes. Amounts stay integer
//! minor units ([`Money`]); currencies are ISO 4217 as `iso_currency` knows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::rules::Violations;

/// The most prices one variant holds.
pub const PRICES_MAX: usize = 100;

/// What a channel key may hold: `[a-z0-9-]{1,64}`.
pub const CHANNEL_PATTERN: &str = "^[a-z0-9-]{1,64}$";

/// One price: an amount in a currency, for a channel or for every channel, valid from
/// `valid_from` (inclusive) until `valid_until` (exclusive), either end open when absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// The amount and its currency.
    #[serde(flatten)]
    pub money: Money,
    /// The sales channel it is for; every channel without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// When it starts to apply (inclusive); always, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    /// When it stops applying (exclusive); never, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
}

impl Price {
    /// An undated price for every channel: v1's one price.
    pub fn base(money: Money) -> Self {
        Self {
            money,
            channel: None,
            valid_from: None,
            valid_until: None,
        }
    }

    /// Whether either end of its window is set: a dated price wins over an undated one.
    pub fn is_dated(&self) -> bool {
        self.valid_from.is_some() || self.valid_until.is_some()
    }

    /// Whether it applies at `at`.
    pub fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|from| from <= at)
            && self.valid_until.is_none_or(|until| at < until)
    }

    /// Whether its window and `other`'s share an instant.
    fn overlaps(&self, other: &Self) -> bool {
        let starts_before = |from: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>| {
            from.zip(until).is_none_or(|(from, until)| from < until)
        };
        starts_before(self.valid_from, other.valid_until)
            && starts_before(other.valid_from, self.valid_until)
    }

    /// The prices that compete for one selection: same currency and channel.
    fn competes_with(&self, other: &Self) -> bool {
        self.money.currency == other.money.currency && self.channel == other.channel
    }
}

impl Violations {
    /// A variant's price list under `field` (`prices`): each price's amount, currency, channel
    /// and window, at most [`PRICES_MAX`], and per currency and channel at most one undated
    /// price and dated ones whose windows do not overlap. Every broken rule is added, each
    /// under the later price's index.
    pub fn prices(&mut self, field: &str, prices: &[Price]) {
        if prices.len() > PRICES_MAX {
            self.push(field, format!("holds at most {PRICES_MAX} prices"));
        }
        for (i, price) in prices.iter().enumerate() {
            let at = format!("{field}[{i}]");
            self.money(&at, &price.money);
            if let Some(channel) = &price.channel {
                let valid = (1..=64).contains(&channel.len())
                    && channel
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !valid {
                    self.push(
                        format!("{at}.channel"),
                        format!("must match {CHANNEL_PATTERN}"),
                    );
                }
            }
            if let (Some(from), Some(until)) = (price.valid_from, price.valid_until) {
                if from >= until {
                    self.push(format!("{at}.valid_from"), "must be before valid_until");
                    continue;
                }
            }
            let clash = prices[..i].iter().position(|earlier| {
                earlier.competes_with(price)
                    && match (earlier.is_dated(), price.is_dated()) {
                        (false, false) => true,
                        (true, true) => earlier.overlaps(price),
                        _ => false,
                    }
            });
            if let Some(j) = clash {
                let what = if price.is_dated() {
                    "overlaps the window of"
                } else {
                    "is a second undated price beside"
                };
                self.push(
                    at,
                    format!("{what} {field}[{j}] (same currency and channel)"),
                );
            }
        }
    }
}

/// What a read selects prices by (`currency`, `channel`, `at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The currency; the product's first price's when absent.
    pub currency: Option<String>,
    /// The channel whose prices win over those for every channel.
    pub channel: Option<String>,
    /// The instant the prices must be valid at; `None` selects undated prices only.
    pub at: Option<DateTime<Utc>>,
}

impl Selection {
    /// The selection a read without parameters makes: the default currency, every channel, now.
    pub fn now() -> Self {
        Self {
            currency: None,
            channel: None,
            at: Some(Utc::now()),
        }
    }

    /// The selection stored documents are made with: undated prices for every channel, so a
    /// document depends on the events alone, never on when it was projected (reads select
    /// again).
    pub fn stored() -> Self {
        Self {
            currency: None,
            channel: None,
            at: None,
        }
    }

    /// The price this selection picks from `prices` in `currency`.
    pub fn pick<'a>(&self, prices: &'a [Price], currency: &str) -> Option<&'a Price> {
        match self.at {
            Some(at) => select(prices, currency, self.channel.as_deref(), at),
            None => prices
                .iter()
                .find(|p| p.money.currency == currency && p.channel.is_none() && !p.is_dated()),
        }
    }
}

/// The price a reader is served from a variant's list: among the prices in `currency` valid
/// at `at`, those for `channel` if any, else those for every channel; of these, a dated price
/// wins over the undated one. `None` when none applies.
pub fn select<'a>(
    prices: &'a [Price],
    currency: &str,
    channel: Option<&str>,
    at: DateTime<Utc>,
) -> Option<&'a Price> {
    // The dated price valid at `at` (windows of one currency and channel never overlap), else
    // the undated one.
    let pick = |for_channel: Option<&str>| {
        let mut valid = prices.iter().filter(|p| {
            p.money.currency == currency && p.channel.as_deref() == for_channel && p.is_valid_at(at)
        });
        let first = valid.next()?;
        Some(if first.is_dated() {
            first
        } else {
            valid.find(|p| p.is_dated()).unwrap_or(first)
        })
    };
    channel
        .and_then(|channel| pick(Some(channel)))
        .or_else(|| pick(None))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
    }

    fn price(amount: i64, currency: &str) -> Price {
        Price::base(Money::new(amount, currency))
    }

    fn dated(amount: i64, from: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Price {
        Price {
            valid_from: from,
            valid_until: until,
            ..price(amount, "EUR")
        }
    }

    fn for_channel(mut price: Price, channel: &str) -> Price {
        price.channel = Some(channel.to_string());
        price
    }

    fn fields(prices: &[Price]) -> Vec<String> {
        crate::rules::broken(|v| v.prices("prices", prices))
    }

    #[test]
    fn a_sale_wins_from_its_first_instant_until_its_last() {
        // Given a base price and a sale from the 5th, 00:00 until the 8th, 00:00
        let list = [
            price(1000, "EUR"),
            dated(800, Some(at(5, 0)), Some(at(8, 0))),
        ];
        let selected = |when| select(&list, "EUR", None, when).map(|p| p.money.amount);
        // Then the sale applies from its start (inclusive) to its end (exclusive)
        assert_eq!(selected(at(4, 23)), Some(1000));
        assert_eq!(selected(at(5, 0)), Some(800));
        assert_eq!(selected(at(7, 23)), Some(800));
        assert_eq!(selected(at(8, 0)), Some(1000));
    }

    #[test]
    fn a_channels_prices_win_and_others_fall_back_to_every_channel() {
        let list = [
            price(1000, "EUR"),
            for_channel(price(900, "EUR"), "b2b"),
            for_channel(dated(700, Some(at(1, 0)), None), "b2b"),
            price(1100, "USD"),
        ];
        let selected =
            |currency, channel| select(&list, currency, channel, at(2, 0)).map(|p| p.money.amount);
        assert_eq!(selected("EUR", Some("b2b")), Some(700));
        assert_eq!(selected("EUR", Some("web")), Some(1000));
        assert_eq!(selected("EUR", None), Some(1000));
        assert_eq!(selected("USD", Some("b2b")), Some(1100));
        assert_eq!(selected("CHF", None), None);
        // Before the channel's sale starts, its undated price applies
        assert_eq!(
            select(
                &list,
                "EUR",
                Some("b2b"),
                at(1, 0) - chrono::Duration::seconds(1)
            )
            .map(|p| p.money.amount),
            Some(900)
        );
    }

    #[test]
    fn a_list_keeps_one_undated_price_and_disjoint_windows_per_currency_and_channel() {
        assert!(fields(&[
            price(1000, "EUR"),
            price(1100, "USD"),
            for_channel(price(900, "EUR"), "b2b"),
            dated(800, Some(at(1, 0)), Some(at(5, 0))),
            // touching windows do not overlap: the first ends as the second starts
            dated(700, Some(at(5, 0)), None),
        ])
        .is_empty());
        assert_eq!(
            fields(&[
                price(1000, "EUR"),
                price(1050, "EUR"),
                dated(800, None, Some(at(5, 0))),
                dated(700, Some(at(4, 0)), Some(at(6, 0))),
                dated(600, Some(at(6, 0)), Some(at(6, 0))),
                for_channel(price(1, "QQQ"), "B2B"),
            ]),
            [
                "prices[1]",
                "prices[3]",
                "prices[4].valid_from",
                "prices[5].currency",
                "prices[5].channel"
            ]
        );
        let many: Vec<Price> = (0..=PRICES_MAX)
            .map(|n| for_channel(price(100, "EUR"), &format!("c{n}")))
            .collect();
        assert_eq!(fields(&many), ["prices"]);
    }

    #[test]
    fn a_price_reads_and_writes_as_the_contract_shows_it() {
        let json = serde_json::json!({
            "amount": 800, "currency": "EUR", "channel": "web",
            "valid_from": "2026-12-05T00:00:00Z"
        });
        let parsed: Price = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(parsed.money, Money::new(800, "EUR"));
        assert_eq!(parsed.valid_from, Some(at(5, 0)));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), json);
    }
}
