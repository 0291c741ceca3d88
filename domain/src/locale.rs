//! Text in several languages: BCP 47 locale tags ([`Locale`]), a text in each of them
//! ([`LocalizedText`]), and how a reader's wishes pick one of the texts ([`Wanted::pick`]).
//!
//! Tags are parsed and put in their canonical case by ICU4X (`icu_locale_core`): `de-ch` is
//! stored and served as `de-CH`, so two spellings of one tag are one key.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rules::Violations;

/// Most locales one text may hold (the HTTP contract's limit).
pub const LOCALES_MAX: usize = 50;

/// A well-formed BCP 47 language tag, in canonical case (`en`, `de-CH`, `zh-Hant-TW`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Locale(String);

impl Locale {
    /// The tag `raw` in canonical case, or why it is not a language tag.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.parse::<icu_locale_core::Locale>()
            .map(|tag| Self(tag.to_string()))
            .map_err(|_| format!("'{}' is not a BCP 47 language tag", raw.escape_default()))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag's language alone: `de` for `de-CH`; the tag itself when it has nothing more.
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl FromStr for Locale {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for Locale {
    /// `en`, the contract's default `DEFAULT_LOCALE`.
    fn default() -> Self {
        Self("en".to_string())
    }
}

/// A text in one or more locales: tag → text, tags in canonical case once checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LocalizedText(BTreeMap<String, String>);

impl LocalizedText {
    /// `text` in `locale` alone.
    pub fn single(locale: &Locale, text: impl Into<String>) -> Self {
        Self(BTreeMap::from([(locale.as_str().to_string(), text.into())]))
    }

    /// The texts as given, tags not yet checked (see [`LocalizedText::check`]).
    pub fn from_map(texts: BTreeMap<String, String>) -> Self {
        Self(texts)
    }

    /// Tag → text, in tag order.
    pub fn texts(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Every text, in tag order: what a search indexes.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(String::as_str)
    }

    /// Checks the contract's rules for `field` (at least one entry, at most [`LOCALES_MAX`],
    /// every tag a language tag, no tag twice once in canonical case, every text under `rule`)
    /// and answers the text with its tags in canonical case. A broken rule of one locale is
    /// reported as `field.<tag>`.
    pub fn check(
        &self,
        field: &str,
        violations: &mut Violations,
        rule: impl Fn(&mut Violations, &str, &str),
    ) -> Self {
        if self.0.is_empty() {
            violations.push(field, "must hold a text in at least one locale");
        }
        if self.0.len() > LOCALES_MAX {
            violations.push(field, format!("must hold at most {LOCALES_MAX} locales"));
        }
        let mut canonical = BTreeMap::new();
        for (tag, text) in &self.0 {
            let key = format!("{field}.{}", tag.escape_default());
            match Locale::parse(tag) {
                Ok(locale) => {
                    rule(violations, &key, text);
                    if canonical
                        .insert(locale.as_str().to_string(), text.clone())
                        .is_some()
                    {
                        violations.push(key, format!("names the locale {locale} twice"));
                    }
                }
                Err(message) => violations.push(key, message),
            }
        }
        Self(canonical)
    }

    /// True when the text has no locale at all (never for a stored product's name).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text a reader who wants `wanted` is served, and the tag it is in; `None` only for
    /// an empty text.
    pub fn pick<'a>(&'a self, wanted: &Wanted) -> Option<(&'a str, &'a str)> {
        wanted
            .chain()
            .find_map(|tag| self.0.get_key_value(tag))
            .or_else(|| self.0.iter().next())
            .map(|(tag, text)| (tag.as_str(), text.as_str()))
    }
}

/// A text as a client sends it: a plain string, in the default locale, or a text per locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = LocalizedString))]
#[serde(untagged)]
pub enum TextInput {
    /// The text in `DEFAULT_LOCALE`.
    Plain(String),
    /// BCP 47 tag → text: at least one, at most 50.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    Localized(LocalizedText),
}

impl TextInput {
    /// The text as stored: a plain string becomes the text in `default`. Checked under `rule`
    /// (with the field as the client named it: `name`, or `name.de` for one locale) and the
    /// rules of [`LocalizedText::check`]; broken ones are added to `violations`.
    pub fn checked(
        self,
        field: &str,
        default: &Locale,
        violations: &mut Violations,
        rule: impl Fn(&mut Violations, &str, &str),
    ) -> LocalizedText {
        match self {
            Self::Plain(text) => {
                rule(violations, field, &text);
                LocalizedText::single(default, text)
            }
            Self::Localized(texts) => texts.check(field, violations, rule),
        }
    }
}

impl Default for TextInput {
    /// An empty plain text: what stands in for a required text a request left out, so the
    /// rest of it is still checked (the placeholder's own refusal is not reported).
    fn default() -> Self {
        Self::Plain(String::new())
    }
}

impl From<&str> for TextInput {
    fn from(text: &str) -> Self {
        Self::Plain(text.to_string())
    }
}

/// What a reader asked for: the locales they accept, most wanted first (from `?locale=` or
/// `Accept-Language`), and the installation's default locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The accepted locales, best first; empty when the reader named none.
    pub accepted: Vec<Locale>,
    /// `DEFAULT_LOCALE`.
    pub default: Locale,
}

impl Wanted {
    /// A reader who named no locale: served the default.
    pub fn default_only(default: Locale) -> Self {
        Self {
            accepted: Vec::new(),
            default,
        }
    }

    /// Whether the reader named no locale, so the default rendering serves them as it is.
    pub fn is_default(&self) -> bool {
        self.accepted.is_empty() || self.accepted == [self.default.clone()]
    }

    /// The tags to try, in order: each accepted locale, then its language (`de-CH` → `de`),
    /// then the default locale. The lowest tag is the caller's last resort.
    fn chain(&self) -> impl Iterator<Item = &str> {
        self.accepted
            .iter()
            .flat_map(|locale| [locale.as_str(), locale.language()])
            .chain([self.default.as_str()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(pairs: &[(&str, &str)]) -> LocalizedText {
        LocalizedText::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn wanted(accepted: &[&str], default: &str) -> Wanted {
        Wanted {
            accepted: accepted.iter().map(|t| Locale::parse(t).unwrap()).collect(),
            default: Locale::parse(default).unwrap(),
        }
    }

    #[test]
    fn tags_are_put_in_canonical_case_and_malformed_ones_refused() {
        assert_eq!(Locale::parse("de-ch").unwrap().as_str(), "de-CH");
        assert_eq!(Locale::parse("ZH-hant-tw").unwrap().as_str(), "zh-Hant-TW");
        assert_eq!(Locale::parse("de-CH").unwrap().language(), "de");
        for bad in ["", "e", "english!", "de--CH", "12", "de CH"] {
            assert!(Locale::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_fallback_chain_is_exact_then_language_then_default_then_lowest() {
        let name = text(&[("de", "Becher"), ("en", "Mug"), ("fr-CA", "Tasse")]);
        // exact
        assert_eq!(
            name.pick(&wanted(&["fr-CA"], "en")),
            Some(("fr-CA", "Tasse"))
        );
        // its language
        assert_eq!(name.pick(&wanted(&["de-CH"], "en")), Some(("de", "Becher")));
        // the default locale
        assert_eq!(name.pick(&wanted(&["it"], "en")), Some(("en", "Mug")));
        // the lowest tag when not even the default is there
        let only = text(&[("fr-CA", "Tasse"), ("de", "Becher")]);
        assert_eq!(only.pick(&wanted(&["it"], "en")), Some(("de", "Becher")));
        // a language tag does not match a regional text (fr is not fr-CA)
        assert_eq!(name.pick(&wanted(&["fr"], "en")), Some(("en", "Mug")));
    }

    #[test]
    fn accepted_locales_are_tried_in_order_before_the_default() {
        let name = text(&[("de", "Becher"), ("en", "Mug"), ("nl", "Mok")]);
        assert_eq!(
            name.pick(&wanted(&["it", "nl-BE", "de"], "en")),
            Some(("nl", "Mok"))
        );
        assert_eq!(
            name.pick(&Wanted::default_only(Locale::default())),
            Some(("en", "Mug"))
        );
        assert_eq!(LocalizedText::default().pick(&wanted(&[], "en")), None);
    }

    #[test]
    fn check_reports_every_broken_rule_and_canonicalises() {
        let mut checked = LocalizedText::default();
        let fields = crate::rules::broken(|violations| {
            checked = text(&[("de-ch", "x"), ("en", "")]).check("name", violations, |v, f, t| {
                if t.is_empty() {
                    v.push(f, "must not be blank");
                }
            });
        });
        assert_eq!(fields, ["name.en"]);
        assert_eq!(checked.texts().keys().collect::<Vec<_>>(), ["de-CH", "en"]);

        let fields = crate::rules::broken(|violations| {
            text(&[]).check("name", violations, |_, _, _| {});
            text(&[("xx!", "a")]).check("description", violations, |_, _, _| {});
            text(&[("de-ch", "a"), ("de-CH", "b")]).check("name", violations, |_, _, _| {});
            // qaa–qtz are the languages reserved for local use: 51 distinct well-formed tags.
            let many: Vec<(String, String)> = (0..51u8)
                .map(|i| {
                    let tag = format!(
                        "q{}{}",
                        char::from(b'a' + i / 26),
                        char::from(b'a' + i % 26)
                    );
                    (tag, "t".to_string())
                })
                .collect();
            LocalizedText::from_map(many.into_iter().collect()).check(
                "name",
                violations,
                |_, _, _| {},
            );
        });
        assert!(fields.contains(&"name".to_string()), "{fields:?}");
        assert!(
            fields.contains(&"description.xx!".to_string()),
            "{fields:?}"
        );
        assert!(
            fields.iter().any(|f| f.starts_with("name.de")),
            "{fields:?}"
        );
        assert_eq!(
            fields.iter().filter(|f| *f == "name").count(),
            2,
            "{fields:?}"
        );
    }
}
