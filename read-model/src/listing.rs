//! `GET /products`: filters, full-text search, sorting and keyset pagination over the
//! PostgreSQL read model. Every value reaches SQL as a bound parameter; the cursor is an opaque
//! token that names a position, never SQL.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use catalog_domain::money::MAX_AMOUNT;
use catalog_domain::rules::CATEGORY_MAX;
use catalog_domain::ProductView;
use catalog_support::problem::FieldViolation;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder};

/// The longest search text, in characters.
pub const Q_MAX: usize = 200;
/// The most products one page holds (`limit`).
pub const PAGE_MAX: i64 = 100;
/// How many products a page holds when `limit` is not given.
pub const PAGE_DEFAULT: i64 = 20;

/// What a list is ordered by (`sort=name|price|updated`); ties are broken by product id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    /// The product's name, as PostgreSQL collates it.
    Name,
    /// The price amount in minor units, whatever the currency (filter by `currency` to compare
    /// like with like).
    Price,
    /// When the product last changed.
    Updated,
}

/// A list's order: `sort=price` ascending, `sort=-price` descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The column ordered by.
    pub key: SortKey,
    /// Descending: the `-` prefix.
    pub descending: bool,
}

impl Sort {
    fn parse(raw: &str) -> Option<Self> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, raw),
        };
        let key = match name {
            "name" => SortKey::Name,
            "price" => SortKey::Price,
            "updated" => SortKey::Updated,
            _ => return None,
        };
        Some(Self { key, descending })
    }

    fn column(self) -> &'static str {
        match self.key {
            SortKey::Name => "name",
            SortKey::Price => "price_amount",
            SortKey::Updated => "updated_at",
        }
    }
}

/// Where the previous page ended: the sort it was made with, the last item's sort value and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    sort: SortKey,
    desc: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated: Option<DateTime<Utc>>,
    id: String,
}

impl Cursor {
    fn after(sort: Sort, last: &ProductView) -> Self {
        Self {
            sort: sort.key,
            desc: sort.descending,
            name: (sort.key == SortKey::Name).then(|| last.name.clone()),
            price: (sort.key == SortKey::Price)
                .then(|| last.base_price().map(|p| p.amount))
                .flatten(),
            updated: (sort.key == SortKey::Updated).then_some(last.updated_at),
            id: last.id.clone(),
        }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    fn decode(raw: &str, sort: Sort) -> Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| "is not a cursor returned by this API".to_string())?;
        let cursor: Self = serde_json::from_slice(&bytes)
            .map_err(|_| "is not a cursor returned by this API".to_string())?;
        let complete = match cursor.sort {
            SortKey::Name => cursor.name.is_some(),
            SortKey::Price => cursor.price.is_some(),
            SortKey::Updated => cursor.updated.is_some(),
        };
        if !complete || cursor.id.is_empty() {
            return Err("is not a cursor returned by this API".to_string());
        }
        if cursor.sort != sort.key || cursor.desc != sort.descending {
            return Err("was made for another sort order".to_string());
        }
        Ok(cursor)
    }
}

/// Which products a list holds by status (`status=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Draft and published: archived products are left out unless asked for.
    Live,
    /// Only products with this status: `draft`, `published` or `archived`.
    Only(&'static str),
}

/// A validated `GET /products` query: filters, sort, page size and the position to continue
/// from. Built only by [`ListQuery::parse`].
#[derive(Debug)]
pub struct ListQuery {
    status: StatusFilter,
    category: Option<String>,
    q: Option<String>,
    sku: Option<String>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    currency: Option<String>,
    sort: Sort,
    limit: i64,
    cursor: Option<Cursor>,
}

impl ListQuery {
    /// Parses the query string, reporting every bad parameter at once.
    pub fn parse(raw: Option<&str>) -> Result<Self, Vec<FieldViolation>> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, message: &str| {
            errors.push(FieldViolation {
                field: field.to_string(),
                message: message.to_string(),
            });
        };
        let mut query = Self {
            status: StatusFilter::Live,
            category: None,
            q: None,
            sku: None,
            min_price: None,
            max_price: None,
            currency: None,
            sort: Sort {
                key: SortKey::Updated,
                descending: true,
            },
            limit: PAGE_DEFAULT,
            cursor: None,
        };
        let mut raw_cursor = None;
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let value = value.into_owned();
            match name.as_ref() {
                "status" => match value.as_str() {
                    "draft" => query.status = StatusFilter::Only("draft"),
                    "published" => query.status = StatusFilter::Only("published"),
                    "archived" => query.status = StatusFilter::Only("archived"),
                    _ => bad("status", "must be one of draft, published, archived"),
                },
                "category" => {
                    if value.is_empty() || value.chars().count() > CATEGORY_MAX {
                        bad(
                            "category",
                            &format!("must be 1 to {CATEGORY_MAX} characters"),
                        );
                    } else if value.contains('\0') {
                        // PostgreSQL text cannot hold U+0000: no category can match it.
                        bad("category", "must not contain the NUL character (U+0000)");
                    } else {
                        query.category = Some(value);
                    }
                }
                "q" => {
                    if value.trim().is_empty() || value.chars().count() > Q_MAX {
                        bad("q", &format!("must be 1 to {Q_MAX} characters"));
                    } else if value.contains('\0') {
                        bad("q", "must not contain the NUL character (U+0000)");
                    } else {
                        query.q = Some(value);
                    }
                }
                "sku" => {
                    let mut violations = catalog_domain::rules::Violations::default();
                    violations.sku(&value);
                    match violations.into_result() {
                        Ok(()) => query.sku = Some(value),
                        Err(found) => found.iter().for_each(|e| bad("sku", &e.message)),
                    }
                }
                "min_price" | "max_price" => match value.parse::<i64>() {
                    Ok(amount) if (0..=MAX_AMOUNT).contains(&amount) => {
                        if name == "min_price" {
                            query.min_price = Some(amount);
                        } else {
                            query.max_price = Some(amount);
                        }
                    }
                    _ => bad(
                        &name,
                        "must be an integer amount in minor units, 0 to 10^12",
                    ),
                },
                "currency" => {
                    if value.len() == 3 && value.chars().all(|c| c.is_ascii_uppercase()) {
                        query.currency = Some(value);
                    } else {
                        bad(
                            "currency",
                            "must be an ISO 4217 code of three upper-case letters",
                        );
                    }
                }
                "sort" => match Sort::parse(&value) {
                    Some(sort) => query.sort = sort,
                    None => bad(
                        "sort",
                        "must be one of name, -name, price, -price, updated, -updated",
                    ),
                },
                "limit" => match value.parse::<i64>() {
                    Ok(limit) if (1..=PAGE_MAX).contains(&limit) => query.limit = limit,
                    _ => bad("limit", &format!("must be an integer from 1 to {PAGE_MAX}")),
                },
                // An empty cursor is the first page, as no cursor is: a client that keeps the
                // last `next_cursor` in a form field sends `cursor=` to start over.
                "cursor" if value.is_empty() => raw_cursor = None,
                "cursor" => raw_cursor = Some(value),
                _ => {}
            }
        }
        if let (Some(min), Some(max)) = (query.min_price, query.max_price) {
            if min > max {
                bad("min_price", "must not be greater than max_price");
            }
        }
        if let Some(raw) = raw_cursor {
            match Cursor::decode(&raw, query.sort) {
                Ok(cursor) => query.cursor = Some(cursor),
                Err(message) => bad("cursor", &message),
            }
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(errors)
        }
    }

    /// One page, and the cursor of the next one if there is more.
    pub async fn run(&self, pool: &PgPool) -> sqlx::Result<(Vec<ProductView>, Option<String>)> {
        let mut sql = self.statement();
        let docs: Vec<Json<ProductView>> = sql.build_query_scalar().fetch_all(pool).await?;
        let mut items: Vec<ProductView> = docs.into_iter().map(|d| d.0).collect();
        let more = items.len() as i64 > self.limit;
        items.truncate(self.limit as usize);
        let next = more
            .then(|| {
                items
                    .last()
                    .map(|last| Cursor::after(self.sort, last).encode())
            })
            .flatten();
        Ok((items, next))
    }

    /// The SQL [`ListQuery::run`] executes, every value bound; one row more than the page, to
    /// tell whether another follows. Public so that tests can check its plan.
    pub fn statement(&self) -> QueryBuilder<'_, Postgres> {
        let mut sql = QueryBuilder::new("SELECT doc FROM product_view WHERE ");
        match self.status {
            StatusFilter::Live => sql.push("status <> 'archived'"),
            StatusFilter::Only(status) => sql.push("status = ").push_bind(status),
        };
        if let Some(category) = &self.category {
            sql.push(" AND category = ").push_bind(category);
        }
        if let Some(q) = &self.q {
            sql.push(" AND search @@ websearch_to_tsquery('simple', ")
                .push_bind(q)
                .push(")");
        }
        if let Some(sku) = &self.sku {
            // Any variant's SKU, through generation 3's index over them (the expression is
            // the index's, verbatim); documents of earlier generations hold only the master's.
            sql.push(
                " AND (jsonb_path_query_array(doc, '$.variants[*].sku') @> jsonb_build_array(",
            )
            .push_bind(sku)
            .push("::text) OR sku = ")
            .push_bind(sku)
            .push(")");
        }
        if let Some(currency) = &self.currency {
            sql.push(" AND price_currency = ").push_bind(currency);
        }
        if let Some(min) = self.min_price {
            sql.push(" AND price_amount >= ").push_bind(min);
        }
        if let Some(max) = self.max_price {
            sql.push(" AND price_amount <= ").push_bind(max);
        }
        let column = self.sort.column();
        let (direction, comparison) = if self.sort.descending {
            ("DESC", "<")
        } else {
            ("ASC", ">")
        };
        if let Some(cursor) = &self.cursor {
            sql.push(format_args!(" AND ({column}, id) {comparison} ("));
            match self.sort.key {
                SortKey::Name => sql.push_bind(cursor.name.clone()),
                SortKey::Price => sql.push_bind(cursor.price),
                SortKey::Updated => sql.push_bind(cursor.updated),
            };
            sql.push(", ").push_bind(cursor.id.clone()).push(")");
        }
        sql.push(format_args!(
            " ORDER BY {column} {direction}, id {direction} LIMIT "
        ))
        .push_bind(self.limit + 1);
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errors: Vec<FieldViolation>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_list_live_products_newest_first() {
        let query = ListQuery::parse(None).unwrap();
        assert_eq!(query.status, StatusFilter::Live);
        assert_eq!(query.limit, 20);
        assert_eq!(
            query.sort,
            Sort {
                key: SortKey::Updated,
                descending: true
            }
        );
    }

    #[test]
    fn every_bad_parameter_is_reported() {
        let err = ListQuery::parse(Some(
            "status=gone&sort=colour&limit=0&min_price=-1&max_price=x&currency=eur&q=&cursor=zz",
        ))
        .unwrap_err();
        let mut got = fields(err);
        got.sort();
        assert_eq!(
            got,
            [
                "currency",
                "cursor",
                "limit",
                "max_price",
                "min_price",
                "q",
                "sort",
                "status"
            ]
        );
        assert_eq!(
            fields(ListQuery::parse(Some("limit=101")).unwrap_err()),
            ["limit"]
        );
        assert_eq!(
            fields(ListQuery::parse(Some("q=a%00b&category=%00")).unwrap_err()),
            ["q", "category"]
        );
        assert_eq!(
            fields(ListQuery::parse(Some("min_price=10&max_price=5")).unwrap_err()),
            ["min_price"]
        );
    }

    #[test]
    fn an_empty_cursor_is_the_first_page() {
        let query = ListQuery::parse(Some("cursor=&sort=name")).unwrap();
        assert!(query.cursor.is_none());
        let first = ListQuery::parse(Some("sort=name")).unwrap();
        assert_eq!(query.statement().into_sql(), first.statement().into_sql());
    }

    #[test]
    fn a_cursor_only_serves_the_sort_it_was_made_for() {
        let cursor = Cursor {
            sort: SortKey::Name,
            desc: false,
            name: Some("a".into()),
            price: None,
            updated: None,
            id: "x".into(),
        }
        .encode();
        assert!(ListQuery::parse(Some(&format!("sort=name&cursor={cursor}"))).is_ok());
        assert_eq!(
            fields(ListQuery::parse(Some(&format!("sort=-name&cursor={cursor}"))).unwrap_err()),
            ["cursor"]
        );
        // A hand-made cursor missing its sort value is refused, not turned into SQL.
        let forged =
            URL_SAFE_NO_PAD.encode(br#"{"sort":"name","desc":false,"id":"1; DROP TABLE x"}"#);
        assert_eq!(
            fields(ListQuery::parse(Some(&format!("sort=name&cursor={forged}"))).unwrap_err()),
            ["cursor"]
        );
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let query = ListQuery::parse(Some(
            "category=x'%20OR%201=1--&q=robert'); DROP TABLE events",
        ))
        .unwrap();
        let sql = query.statement().into_sql();
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(sql.contains("category = $1"), "{sql}");
    }
}
