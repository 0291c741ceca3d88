//! Which locale a reader wants: `?locale=<tag>`, else `Accept-Language` (q-values honoured),
//! else the default. The fallback chain per field is the domain's ([`LocalizedText::pick`]).
//!
//! [`LocalizedText::pick`]: catalog_domain::LocalizedText::pick

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use catalog_domain::{Locale, Wanted};
use catalog_support::problem::FieldViolation;

/// The header every localized response varies by.
pub const VARY: (HeaderName, HeaderValue) =
    (header::VARY, HeaderValue::from_static("Accept-Language"));

/// The reader's wishes from the query string (`locale`) and the headers. A malformed
/// `?locale=` is the reader's mistake (422, reported with the request's other bad parameters);
/// malformed entries of `Accept-Language`, which browsers send unasked, are passed over.
pub fn wanted(
    query: Option<&str>,
    headers: &HeaderMap,
    default: &Locale,
) -> Result<Wanted, FieldViolation> {
    let named = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(name, _)| name == "locale")
        .map(|(_, value)| value.into_owned());
    let accepted = match named {
        Some(raw) => vec![Locale::parse(&raw).map_err(|message| FieldViolation {
            field: "locale".to_string(),
            message,
        })?],
        None => headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .map(accept_language::parse_with_quality)
            .unwrap_or_default()
            .iter()
            // q=0 means "not this one" (RFC 9110, 12.4.2).
            .filter(|(_, quality)| *quality > 0.0)
            .filter_map(|(tag, _)| Locale::parse(tag).ok())
            .collect(),
    };
    Ok(Wanted {
        accepted,
        default: default.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(query: Option<&str>, accept_language: Option<&str>) -> Vec<String> {
        let mut headers = HeaderMap::new();
        if let Some(value) = accept_language {
            headers.insert(header::ACCEPT_LANGUAGE, value.parse().unwrap());
        }
        wanted(query, &headers, &Locale::default())
            .unwrap()
            .accepted
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_query_wins_over_the_header_and_q_values_order_the_header() {
        assert_eq!(accepted(Some("locale=de-ch"), Some("fr")), ["de-CH"]);
        assert_eq!(
            accepted(None, Some("fr;q=0.5, de-CH, en;q=0.8")),
            ["de-CH", "en", "fr"]
        );
        assert_eq!(accepted(None, Some("*, ??, nl;q=0.1")), ["nl"]);
        assert!(accepted(None, None).is_empty());
        // q=0 means "not this one"
        assert_eq!(accepted(None, Some("de;q=0, fr")), ["fr"]);
    }

    #[test]
    fn a_malformed_locale_parameter_is_refused() {
        let err = wanted(
            Some("locale=not%20a%20tag"),
            &HeaderMap::new(),
            &Locale::default(),
        );
        assert_eq!(err.unwrap_err().field, "locale");
    }
}
