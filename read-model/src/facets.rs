//! Narrowing a list by what its products are (`type=`, `attr.<name>=`, `attr.<name>.min`,
//! `attr.<name>.max`) and counting them by value (`facets=`), docs/API.md "Search". Both read the
//! products' facet values (`product_facet_values`, migration `…_facet_values.sql`): one row per
//! product and value however many of its variants hold it, so a filter is an index lookup and
//! a product counts once per value.

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

    /// ` AND …` for each filter, every value bound: products of the type, and for each
    /// attribute those holding one of its values (as a string, a boolean or a number, any
    /// variant's) and a number within its range.
    pub(crate) fn push_filters<'a>(&'a self, sql: &mut QueryBuilder<'a, Postgres>) {
        if let Some(key) = &self.product_type {
            sql.push(
                " AND id IN (SELECT product_id FROM product_facet_values WHERE facet = 'type'",
            );
            push_values(sql, vec![serde_json::Value::String(key.clone())]);
            sql.push(")");
        }
        for (name, filter) in &self.attributes {
            let facet = format!("attr.{name}");
            if !filter.values.is_empty() {
                let values = filter
                    .values
                    .iter()
                    .flat_map(|raw| {
                        let boolean = match raw.as_str() {
                            "true" => Some(serde_json::Value::Bool(true)),
                            "false" => Some(serde_json::Value::Bool(false)),
                            _ => None,
                        };
                        std::iter::once(serde_json::Value::String(raw.clone())).chain(boolean)
                    })
                    .collect();
                let numbers: Vec<&str> = filter
                    .values
                    .iter()
                    .map(String::as_str)
                    .filter(|raw| is_number(raw))
                    .collect();
                sql.push(" AND id IN (SELECT product_id FROM product_facet_values WHERE facet = ")
                    .push_bind(facet.clone())
                    .push(" AND (true");
                push_values(sql, values);
                if !numbers.is_empty() {
                    sql.push(" OR number = ANY(")
                        .push_bind(numbers)
                        .push("::numeric[])");
                }
                sql.push("))");
            }
            if filter.min.is_some() || filter.max.is_some() {
                sql.push(" AND id IN (SELECT product_id FROM product_facet_values WHERE facet = ")
                    .push_bind(facet)
                    .push(" AND number IS NOT NULL");
                if let Some(min) = &filter.min {
                    sql.push(" AND number >= ").push_bind(min).push("::numeric");
                }
                if let Some(max) = &filter.max {
                    sql.push(" AND number <= ").push_bind(max).push("::numeric");
                }
                sql.push(")");
            }
        }
    }
}

/// ` AND <the value is one of values>`, through the index's first 200 characters of the value's
/// JSON text, rechecked whole.
fn push_values(sql: &mut QueryBuilder<'_, Postgres>, values: Vec<serde_json::Value>) {
    let values: Vec<sqlx::types::Json<serde_json::Value>> =
        values.into_iter().map(sqlx::types::Json).collect();
    sql.push(" AND left(value::text, 200) = ANY(ARRAY(SELECT left(v::text, 200) FROM unnest(")
        .push_bind(values.clone())
        .push("::jsonb[]) v)) AND value = ANY(")
        .push_bind(values)
        .push("::jsonb[])");
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
        // One subquery per attribute: numbers are compared as numbers for `size` only.
        assert_eq!(sql.matches("product_facet_values").count(), 2, "{sql}");
        assert_eq!(sql.matches("number = ANY").count(), 1, "{sql}");
        assert!(!sql.contains("42"), "values are bound: {sql}");
    }

    #[test]
    fn values_are_compared_whole_and_kept_once() {
        let (narrowing, _) = parse("attr.color=red&attr.color=red&attr.color=blue");
        assert_eq!(narrowing.attributes["color"].values, ["red", "blue"]);
        assert!(is_number("-1.5e3") && !is_number("NaN") && !is_number("+1") && !is_number(" 1"));
    }
}
