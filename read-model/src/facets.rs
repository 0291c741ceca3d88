//! Narrowing a list by what its products are (`type=`, `attr.<name>=`, `attr.<name>.min`,
//! `attr.<name>.max`) and counting them by value (`facets=`), docs/API.md "Search". Both read the
//! view's `facets` column (migration `…_facet_values.sql`): each product's values as tokens,
//! `<facet>=<value as JSON>`, one per value however many of its variants hold it, behind a GIN
//! index. A filter is a containment test; a facet's counts are the tokens of the selected rows.

use std::collections::BTreeMap;

use catalog_domain::product_type::{is_attribute_name, is_type_key, ATTRIBUTE_NAME_PATTERN};
use catalog_domain::rules::ATTRIBUTE_VALUE_MAX;
use serde::Serialize;
use sqlx::{Postgres, QueryBuilder};

/// The most values one facet lists, the most common first.
pub const FACET_VALUES_MAX: i64 = 100;
/// The most attributes one list filters on.
pub const ATTRIBUTE_FILTERS_MAX: usize = 20;
/// The most values one attribute filter accepts (`attr.<name>=` repeated).
pub const FILTER_VALUES_MAX: usize = 100;
/// The longest attribute value a filter compares, in characters: a text attribute's limit.
const VALUE_MAX: usize = ATTRIBUTE_VALUE_MAX;

/// What a list's products can be counted by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Facet {
    /// The product's category.
    Category,
    /// `draft`, `published` or `archived`.
    Status,
    /// The product type's key.
    Type,
    /// An attribute, product-level or any variant's.
    Attribute(String),
}

impl Facet {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "category" => Some(Self::Category),
            "status" => Some(Self::Status),
            "type" => Some(Self::Type),
            _ => raw
                .strip_prefix("attr.")
                .filter(|name| is_attribute_name(name))
                .map(|name| Self::Attribute(name.to_string())),
        }
    }

    /// Its name in `facets=` and in the answer: `category`, `status`, `type`, `attr.<name>`;
    /// for `type` and attributes, also the stored values' `facet`.
    pub fn name(&self) -> String {
        match self {
            Self::Category => "category".to_string(),
            Self::Status => "status".to_string(),
            Self::Type => "type".to_string(),
            Self::Attribute(name) => format!("attr.{name}"),
        }
    }
}

/// One value of a facet and how many of the list's products hold it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacetValue {
    /// As the products hold it: a string, a number or a boolean.
    pub value: serde_json::Value,
    /// The products holding it, each counted once.
    pub count: i64,
}

/// One attribute's filter: a product holds one of `values` (if any are given) and a number
/// within `min..=max` (if either is given).
#[derive(Debug, Default)]
struct AttributeFilter {
    values: Vec<String>,
    min: Option<String>,
    max: Option<String>,
}

/// The filters on what products are, and the facets asked for: the part of a list's query
/// this module parses and turns into SQL.
#[derive(Debug, Default)]
pub struct Narrowing {
    product_type: Option<String>,
    attributes: BTreeMap<String, AttributeFilter>,
    facets: Vec<Facet>,
}

/// Whether `raw` is a JSON number, as attribute values hold them (`12`, `-1.5`, `2e3`): only
/// then is it compared with numbers, and bound as one.
fn is_number(raw: &str) -> bool {
    // JSON allows white space around a value; a parameter's value is the number alone.
    raw.trim() == raw && serde_json::from_str::<serde_json::Number>(raw).is_ok()
}

impl Narrowing {
    /// Takes the parameter `name=value` if it is one of this module's, reporting a bad one
    /// to `bad`; false for any other parameter.
    pub(crate) fn take(
        &mut self,
        name: &str,
        value: String,
        bad: &mut impl FnMut(&str, &str),
    ) -> bool {
        if name == "type" {
            if is_type_key(&value) {
                self.product_type = Some(value);
            } else {
                bad("type", "must be a product type's key: ^[a-z0-9-]{1,64}$");
            }
            return true;
        }
        if name == "facets" {
            // Strict, as the document's pattern is: no blank item, no white space.
            for raw in value.split(',') {
                match Facet::parse(raw) {
                    Some(facet) if !self.facets.contains(&facet) => self.facets.push(facet),
                    Some(_) => {}
                    None => bad(
                        "facets",
                        &format!(
                            "{raw:?} is not a facet: category, status, type or attr.<name>, the \
                             name matching {ATTRIBUTE_NAME_PATTERN}"
                        ),
                    ),
                }
            }
            return true;
        }
        let Some(rest) = name.strip_prefix("attr.") else {
            return false;
        };
        let (attribute, bound) = match rest.rsplit_once('.') {
            Some((attribute, bound @ ("min" | "max"))) => (attribute, Some(bound)),
            _ => (rest, None),
        };
        if !is_attribute_name(attribute) {
            bad(
                name,
                &format!(
                    "names no attribute: attr.<name>, attr.<name>.min or attr.<name>.max, the \
                     name matching {ATTRIBUTE_NAME_PATTERN}"
                ),
            );
            return true;
        }
        if !self.attributes.contains_key(attribute)
            && self.attributes.len() == ATTRIBUTE_FILTERS_MAX
        {
            bad(
                name,
                &format!(
                    "is one attribute too many: a list filters on at most {ATTRIBUTE_FILTERS_MAX}"
                ),
            );
            return true;
        }
        let filter = self.attributes.entry(attribute.to_string()).or_default();
        match bound {
            Some(bound) => {
                if !is_number(&value) {
                    bad(name, "must be a number");
                } else if bound == "min" {
                    filter.min = Some(value);
                } else {
                    filter.max = Some(value);
                }
            }
            None => {
                if value.is_empty() || value.chars().count() > VALUE_MAX {
                    bad(name, &format!("must be 1 to {VALUE_MAX} characters"));
                } else if value.contains('\0') {
                    bad(name, "must not contain the NUL character (U+0000)");
                } else if filter.values.len() == FILTER_VALUES_MAX {
                    bad(
                        name,
                        &format!("is given more than {FILTER_VALUES_MAX} times"),
                    );
                } else if !filter.values.contains(&value) {
                    filter.values.push(value);
                }
            }
        }
        true
    }

    /// Reports a range whose minimum exceeds its maximum, once all parameters are taken.
    pub(crate) fn check(&self, bad: &mut impl FnMut(&str, &str)) {
        for (name, filter) in &self.attributes {
            if let (Some(min), Some(max)) = (&filter.min, &filter.max) {
                // Both are JSON numbers; PostgreSQL compares them exactly, f64 closely enough
                // to tell an upside-down range.
                let (min, max): (f64, f64) =
                    (min.parse().unwrap_or(0.0), max.parse().unwrap_or(0.0));
                if min > max {
                    bad(
                        &format!("attr.{name}.min"),
                        &format!("must not be greater than attr.{name}.max"),
                    );
                }
            }
        }
    }

    /// The facets asked for, in the order asked.
    pub fn facets(&self) -> &[Facet] {
        &self.facets
    }

    /// The attributes whose facets are asked for: only those a product type marks `facet` may
    /// be (the caller knows the types).
    pub fn facet_attributes(&self) -> impl Iterator<Item = &str> {
        self.facets.iter().filter_map(|facet| match facet {
            Facet::Attribute(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Whether any filter of this module is set.
    pub fn filters(&self) -> bool {
        self.product_type.is_some() || !self.attributes.is_empty()
    }

    /// ` AND facets @> ARRAY[<category token>]`: the list's category, as a token.
    pub(crate) fn push_category<'a>(&self, sql: &mut QueryBuilder<'a, Postgres>, category: &str) {
        sql.push(" AND facets @> ARRAY[")
            .push_bind(text_token("category", category))
            .push("]");
    }

    /// ` AND …` for each filter, every value bound, on the view's `facets` tokens: products of
    /// the type, and for each attribute those holding one of its values (as a string, a
    /// boolean or a number, their own or any variant's) and a number within its range. The
    /// GIN index answers the tokens; a list walking its order index checks them on the rows it
    /// reads.
    pub(crate) fn push_filters<'a>(&'a self, sql: &mut QueryBuilder<'a, Postgres>) {
        if let Some(key) = &self.product_type {
            sql.push(" AND facets @> ARRAY[")
                .push_bind(text_token("type", key))
                .push("]");
        }
        for (name, filter) in &self.attributes {
            let facet = format!("attr.{name}");
            if !filter.values.is_empty() {
                push_values(sql, &facet, &filter.values);
            }
            if filter.min.is_some() || filter.max.is_some() {
                // A range has no index of its own: it narrows what the other filters and the
                // list's order select, checked on each row's tokens. A token of another kind
                // (an untyped product's text) is no number: the CASE keeps it from the cast.
                let prefix = format!("{facet}=");
                let value_at = prefix.chars().count() as i32 + 1;
                sql.push(
                    " AND EXISTS (SELECT 1 FROM unnest(facets) t \
                     CROSS JOIN LATERAL (SELECT substr(t, ",
                )
                .push_bind(value_at)
                .push(
                    ") AS v) s CROSS JOIN LATERAL (SELECT CASE \
                     WHEN s.v ~ '^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$' THEN s.v::numeric \
                     END AS number) n WHERE starts_with(t, ",
                )
                .push_bind(prefix)
                .push(")");
                for (bound, comparison) in [(&filter.min, ">="), (&filter.max, "<=")] {
                    if let Some(bound) = bound {
                        sql.push(format_args!(" AND n.number {comparison} "))
                            .push_bind(bound.clone())
                            .push("::numeric");
                    }
                }
                sql.push(")");
            }
        }
    }
}

impl Narrowing {
    /// The filters as conditions on tokens, for the facet index; `None` when one compares a
    /// value longer than a token keeps (the document decides, in PostgreSQL).
    pub(crate) fn conditions(&self) -> Option<Vec<Condition>> {
        let mut conditions = Vec::new();
        if let Some(key) = &self.product_type {
            conditions.push(Condition::AnyOf {
                facet: "type".to_string(),
                tokens: vec![text_token("type", key)],
                numbers: Vec::new(),
            });
        }
        for (name, filter) in &self.attributes {
            let facet = format!("attr.{name}");
            if !filter.values.is_empty() {
                let Alternatives {
                    tokens,
                    numbers,
                    long,
                } = alternatives(&facet, &filter.values);
                if !long.is_empty() {
                    return None;
                }
                conditions.push(Condition::AnyOf {
                    facet: facet.clone(),
                    tokens,
                    numbers: numbers.into_iter().map(str::to_string).collect(),
                });
            }
            if filter.min.is_some() || filter.max.is_some() {
                conditions.push(Condition::Within {
                    facet,
                    min: filter.min.clone(),
                    max: filter.max.clone(),
                });
            }
        }
        Some(conditions)
    }
}

/// One condition of a list, as tokens: a product is selected when it satisfies every one.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The product holds one of these tokens, or a number token of `facet` equal to one of
    /// `numbers` (JSON number texts).
    AnyOf {
        /// The facet the numbers belong to (`attr.<name>`).
        facet: String,
        /// Whole tokens, `<facet>=<JSON text>`.
        tokens: Vec<String>,
        /// Numbers compared as PostgreSQL's `numeric` compares them.
        numbers: Vec<String>,
    },
    /// The product holds a number token of `facet` within `min..=max` (either may be open).
    Within {
        /// The facet (`attr.<name>`).
        facet: String,
        /// The least number, a JSON number text.
        min: Option<String>,
        /// The greatest number, a JSON number text.
        max: Option<String>,
    },
}

/// A list's selection in tokens: its status, then every condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// `None`: every status but archived; `Some(status)`: that status only.
    pub status: Option<&'static str>,
    /// All must hold.
    pub conditions: Vec<Condition>,
}

/// The token of a product's status: one more token in memory, as in the counting statement.
pub fn status_token(status: &str) -> String {
    text_token("status", status)
}

/// A token's value as JSON: the string, number or boolean it was written from; a text the token
/// cut short is its first characters, marked with an ellipsis.
pub(crate) fn token_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        let cut = text.strip_prefix('"').unwrap_or(text);
        serde_json::Value::String(format!("{cut}…"))
    })
}

/// The token a product holds for `value` of `facet`, as `catalog_facet_tokens` writes it:
/// `<facet>=<JSON text>`, the JSON text cut to [`TOKEN_VALUE_MAX`] characters. Strings and
/// booleans only: numbers are written by PostgreSQL (see [`push_values`]).
pub(crate) fn token(facet: &str, value: &serde_json::Value) -> String {
    let text = value.to_string();
    format!(
        "{facet}={}",
        text.chars().take(TOKEN_VALUE_MAX).collect::<String>()
    )
}

/// The token of a text value of `facet`: [`token`] of it as a JSON string.
pub(crate) fn text_token(facet: &str, text: &str) -> String {
    token(facet, &serde_json::Value::String(text.to_string()))
}

/// The characters of a value's JSON text a token keeps.
const TOKEN_VALUE_MAX: usize = 200;

/// What an attribute filter's values may be held as: the tokens of each as a string (and as a
/// boolean, when it reads as one), the values that read as numbers (whose tokens PostgreSQL
/// writes), and those whose JSON text a token cuts short (compared with the document).
struct Alternatives<'a> {
    tokens: Vec<String>,
    numbers: Vec<&'a str>,
    long: Vec<serde_json::Value>,
}

/// The [`Alternatives`] of `values` of `facet`: one home for the SQL filter and the facet
/// index's condition.
fn alternatives<'a>(facet: &str, values: &'a [String]) -> Alternatives<'a> {
    let mut alternatives = Alternatives {
        tokens: Vec::new(),
        numbers: Vec::new(),
        long: Vec::new(),
    };
    for raw in values {
        let string = serde_json::Value::String(raw.clone());
        alternatives.tokens.push(token(facet, &string));
        if string.to_string().chars().count() > TOKEN_VALUE_MAX {
            alternatives.long.push(string);
        }
        if raw == "true" || raw == "false" {
            alternatives.tokens.push(format!("{facet}={raw}"));
        }
        if is_number(raw) {
            alternatives.numbers.push(raw);
        }
    }
    alternatives
}

/// ` AND facets && ARRAY[…]`: the product holds one of `values` of `facet`, each as a string,
/// and also as a boolean or a number when it reads as one. A number's token is made by
/// PostgreSQL as the column's are (`trim_scale`), so `1.50` finds `1.5`. A value whose JSON
/// text the tokens cut short is rechecked against the document.
fn push_values<'a>(sql: &mut QueryBuilder<'a, Postgres>, facet: &str, values: &'a [String]) {
    let Alternatives {
        tokens: strings,
        numbers,
        long,
    } = alternatives(facet, values);
    sql.push(" AND facets && (")
        .push_bind(strings)
        .push("::text[]");
    if !numbers.is_empty() {
        sql.push(" || ARRAY(SELECT ")
            .push_bind(format!("{facet}="))
            .push(" || trim_scale(n::numeric)::text FROM unnest(")
            .push_bind(numbers)
            .push("::text[]) n)");
    }
    sql.push(")");
    if !long.is_empty() {
        let name = facet.strip_prefix("attr.").unwrap_or(facet).to_string();
        // The document's own attributes and its variants', compared whole.
        sql.push(" AND (doc->'attributes'->")
            .push_bind(name.clone())
            .push(" = ANY(")
            .push_bind(
                long.iter()
                    .cloned()
                    .map(sqlx::types::Json)
                    .collect::<Vec<_>>(),
            )
            .push(
                "::jsonb[]) OR EXISTS (SELECT 1 FROM jsonb_array_elements(doc->'variants') v \
                   WHERE v->'attributes'->",
            )
            .push_bind(name)
            .push(" = ANY(")
            .push_bind(long.into_iter().map(sqlx::types::Json).collect::<Vec<_>>())
            .push("::jsonb[])))");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> (Narrowing, Vec<String>) {
        let mut narrowing = Narrowing::default();
        let mut errors = Vec::new();
        let mut bad = |field: &str, _: &str| errors.push(field.to_string());
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            narrowing.take(&name, value.into_owned(), &mut bad);
        }
        narrowing.check(&mut bad);
        (narrowing, errors)
    }

    #[test]
    fn facets_are_named_as_asked_and_listed_once() {
        let (narrowing, errors) =
            parse("facets=category,attr.color,type,category&facets=attr.size");
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<String> = narrowing.facets().iter().map(Facet::name).collect();
        assert_eq!(names, ["category", "attr.color", "type", "attr.size"]);
        assert_eq!(
            narrowing.facet_attributes().collect::<Vec<_>>(),
            ["color", "size"]
        );
    }

    #[test]
    fn bad_names_values_and_ranges_are_reported_by_parameter() {
        let (_, errors) = parse(
            "facets=colour&facets=category,&attr.Color=red&attr.size.min=x&attr.weight.min=5&attr.weight.max=2\
             &attr.=1&type=Shirts&attr.brand=",
        );
        assert_eq!(
            errors,
            [
                "facets",
                "facets",
                "attr.Color",
                "attr.size.min",
                "attr.",
                "type",
                "attr.brand",
                "attr.weight.min"
            ]
        );
    }

    #[test]
    fn a_value_that_reads_as_a_number_or_boolean_also_matches_one() {
        let (narrowing, errors) = parse("attr.size=42&attr.size=M&attr.organic=true");
        assert!(errors.is_empty(), "{errors:?}");
        let mut sql = QueryBuilder::new("SELECT id FROM product_view WHERE true");
        narrowing.push_filters(&mut sql);
        let sql = sql.into_sql();
        // One overlap per attribute: numbers are written by PostgreSQL for `size` only.
        assert_eq!(sql.matches("facets &&").count(), 2, "{sql}");
        assert_eq!(sql.matches("trim_scale").count(), 1, "{sql}");
        assert!(!sql.contains("42"), "values are bound: {sql}");
        assert_eq!(
            token("attr.size", &serde_json::json!("M")),
            "attr.size=\"M\""
        );
        assert_eq!(
            token("attr.x", &serde_json::json!("é\"\n")),
            "attr.x=\"é\\\"\\n\""
        );
    }

    #[test]
    fn values_are_compared_whole_and_kept_once() {
        let (narrowing, _) = parse("attr.color=red&attr.color=red&attr.color=blue");
        assert_eq!(narrowing.attributes["color"].values, ["red", "blue"]);
        assert!(is_number("-1.5e3") && !is_number("NaN") && !is_number("+1") && !is_number(" 1"));
    }
}
