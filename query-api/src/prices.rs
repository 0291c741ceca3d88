//! Which prices a reader is served: `currency`, `channel` and `at` (Catalog 2, "Prices"), on
//! every read of a product (by id, lists, past versions). The selection itself is the
//! domain's ([`Selection`]); this reads it from the query string.

use axum::http::HeaderMap;
use catalog_domain::prices::{Selection, CHANNEL_PATTERN};
use catalog_domain::{Locale, Wanted};
use catalog_support::problem::{CommonError, FieldViolation};
use chrono::{DateTime, Utc};

/// The locale and the prices a read of one product is served in (by id, a past version), or
/// 422 naming every bad parameter of either.
pub fn wanted(
    query: Option<&str>,
    headers: &HeaderMap,
    default: &Locale,
) -> Result<(Wanted, Selection), CommonError> {
    match (
        crate::locale::wanted(query, headers, default),
        selection(query),
    ) {
        (Ok(locale), Ok(selection)) => Ok((locale, selection)),
        (locale, selection) => {
            let mut errors: Vec<_> = locale.err().into_iter().collect();
            errors.extend(selection.err().unwrap_or_default());
            Err(CommonError::Validation(errors))
        }
    }
}

/// The reader's selection from the query string; every malformed parameter is reported.
/// Without `at`, prices are selected as of now.
pub fn selection(query: Option<&str>) -> Result<Selection, Vec<FieldViolation>> {
    let mut selection = Selection::now();
    let mut errors = Vec::new();
    let mut bad = |field: &str, message: &str| {
        errors.push(FieldViolation {
            field: field.to_string(),
            message: message.to_string(),
        });
    };
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*name {
            "currency" => {
                if value.len() == 3 && value.chars().all(|c| c.is_ascii_uppercase()) {
                    selection.currency = Some(value.into_owned());
                } else {
                    bad(
                        "currency",
                        "must be an ISO 4217 code of three upper-case letters",
                    );
                }
            }
            "channel" => {
                let valid = (1..=64).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if valid {
                    selection.channel = Some(value.into_owned());
                } else {
                    bad("channel", &format!("must match {CHANNEL_PATTERN}"));
                }
            }
            "at" => match DateTime::parse_from_rfc3339(&value) {
                Ok(at) => selection.at = Some(at.with_timezone(&Utc)),
                Err(_) => bad("at", "must be an RFC 3339 date-time"),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(selection)
    } else {
        Err(errors)
    }
}

/// Whether a stored document, as its bytes stand, already holds the prices a read without
/// `currency`, `channel` or `at` is served: documents are stored with each variant's undated
/// price, which is what such a read selects unless a price of the product has a validity
/// window (`dated`, see `Document::dated`).
pub fn stored_prices_serve(selection: &Selection, dated: bool) -> bool {
    selection.currency.is_none() && selection.channel.is_none() && !dated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(query: &str) -> Vec<String> {
        selection(Some(query))
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_selection_is_read_from_the_query_and_every_bad_parameter_named() {
        let parsed = selection(Some(
            "currency=USD&channel=b2b&at=2026-12-05T10:00:00%2B01:00",
        ))
        .unwrap();
        assert_eq!(parsed.currency.as_deref(), Some("USD"));
        assert_eq!(parsed.channel.as_deref(), Some("b2b"));
        assert_eq!(
            parsed.at.map(|at| at.to_rfc3339()),
            Some("2026-12-05T09:00:00+00:00".to_string())
        );
        assert!(selection(None).unwrap().at.is_some(), "now by default");
        assert_eq!(
            fields("currency=usd&channel=B2B&at=tomorrow"),
            ["currency", "channel", "at"]
        );
    }
}
