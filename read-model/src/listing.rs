//! `GET /products`: filters, full-text search that forgives typos, sorting and keyset
//! pagination over the PostgreSQL read model. Every value reaches SQL as a bound parameter; the
//! cursor is an opaque token that names a position, never SQL.
//!
//! A search (`q`) runs in two steps. [`Search::expand`] splits the text into words as the
//! search vector does and widens each word of letters to the catalog's words within its typo
//! allowance (docs/API.md "Search": one edit from 4 letters, two from 8), found through the
//! trigram index of the vocabulary (`search_words`, migration `…_search_vocabulary.sql`) and
//! confirmed by their edit distance. The list then matches the widened words through the search
//! vector's own index, exact matches first.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use catalog_domain::money::MAX_AMOUNT;
use catalog_domain::rules::CATEGORY_MAX;
use catalog_domain::ProductView;
use catalog_support::problem::FieldViolation;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{Connection, Execute, PgConnection, PgPool, Postgres, QueryBuilder, Row};

use crate::facet_index::FacetIndex;
use crate::facets::{
    text_token, token_value, Condition, Facet, FacetValue, Narrowing, Selection, FACET_VALUES_MAX,
};

/// The longest search text, in characters.
pub const Q_MAX: usize = 200;
/// The most products one page holds (`limit`).
pub const PAGE_MAX: i64 = 100;
/// How many products a page holds when `limit` is not given.
pub const PAGE_DEFAULT: i64 = 20;

/// What a list is ordered by (`sort=name|price|updated|relevance`); ties are broken by
/// product id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    /// Products matching every word as written first, then by their text's rank for the
    /// widened words: the default with `q`; without it, the default order.
    Relevance,
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
            // Best first, and only that way.
            "relevance" if !descending => {
                return Some(Self {
                    key: SortKey::Relevance,
                    descending: true,
                })
            }
            _ => return None,
        };
        Some(Self { key, descending })
    }

    fn column(self) -> &'static str {
        match self.key {
            SortKey::Relevance => "relevance",
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
    /// For `relevance`: whether the last item matched every word as written, and its rank.
    #[serde(skip_serializing_if = "Option::is_none")]
    exact: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rank: Option<f32>,
    id: String,
}

impl Cursor {
    fn after(sort: Sort, last: &ProductView, relevance: Option<(bool, f32)>) -> Self {
        Self {
            sort: sort.key,
            desc: sort.descending,
            name: (sort.key == SortKey::Name).then(|| last.name.clone()),
            price: (sort.key == SortKey::Price)
                .then(|| last.base_price().map(|p| p.amount))
                .flatten(),
            updated: (sort.key == SortKey::Updated).then_some(last.updated_at),
            exact: relevance.map(|(exact, _)| exact),
            rank: relevance.map(|(_, rank)| rank),
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
            SortKey::Relevance => cursor.exact.is_some() && cursor.rank.is_some_and(f32::is_finite),
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
    narrowing: Narrowing,
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
            narrowing: Narrowing::default(),
            sort: Sort {
                key: SortKey::Updated,
                descending: true,
            },
            limit: PAGE_DEFAULT,
            cursor: None,
        };
        let mut raw_cursor = None;
        let mut sorted = false;
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
                    Some(sort) => {
                        query.sort = sort;
                        sorted = true;
                    }
                    None => bad(
                        "sort",
                        "must be one of relevance, name, -name, price, -price, updated, -updated",
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
                // `type`, `attr.…` and `facets`; anything else is not the list's.
                other => {
                    query.narrowing.take(other, value, &mut bad);
                }
            }
        }
        query.narrowing.check(&mut bad);
        if let (Some(min), Some(max)) = (query.min_price, query.max_price) {
            if min > max {
                bad("min_price", "must not be greater than max_price");
            }
        }
        match (&query.q, query.sort.key) {
            // Without a text every product is as relevant as the next: the default order.
            (None, SortKey::Relevance) => {
                query.sort = Sort {
                    key: SortKey::Updated,
                    descending: true,
                }
            }
            (Some(_), _) if !sorted => {
                query.sort = Sort {
                    key: SortKey::Relevance,
                    descending: true,
                }
            }
            _ => {}
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

    /// The search text, if the list has one: what [`Search::expand`] widens.
    pub fn q(&self) -> Option<&str> {
        self.q.as_deref()
    }

    /// PostgreSQL's plan of the statement [`ListQuery::run`] sends for `which`, as `EXPLAIN
    /// <options>` prints it (`options` a literal such as `(ANALYZE, BUFFERS)`, or empty), the
    /// search text expanded first as `run` expands it: the one way tests and benchmarks read
    /// what a list costs.
    pub async fn plan(&self, pool: &PgPool, which: Planned, options: &str) -> sqlx::Result<String> {
        let search = match &self.q {
            Some(q) => Some(Search::expand(&mut *pool.acquire().await?, q).await?),
            None => None,
        };
        let mut statement = match which {
            Planned::Page => self.statement(search.as_ref()),
            Planned::Facets => self.facet_statement(search.as_ref()),
        };
        let sql = format!("EXPLAIN {options} {}", statement.sql());
        let arguments = statement
            .build()
            .take_arguments()
            .map_err(sqlx::Error::Encode)?
            .unwrap_or_default();
        let rows: Vec<(String,)> = sqlx::query_as_with(&sql, arguments).fetch_all(pool).await?;
        Ok(rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n"))
    }

    /// The filters on type and attributes, and the facets asked for.
    pub fn narrowing(&self) -> &Narrowing {
        &self.narrowing
    }

    /// One page, the cursor of the next one if there is more, and for a search whose words
    /// match nothing as written, the text it may have meant (first pages only). The facets are
    /// counted by `index` when it is ready and the filters are its tokens, else in PostgreSQL.
    pub async fn run(&self, pool: &PgPool, index: Option<&FacetIndex>) -> sqlx::Result<Page> {
        let search = match &self.q {
            Some(q) => {
                let mut conn = pool.acquire().await?;
                let search = Search::expand(&mut conn, q).await?;
                if search.is_empty() {
                    // Nothing in the text is a word (punctuation only): nothing matches.
                    return Ok(Page {
                        facets: self.facets_of_nothing(),
                        ..Page::default()
                    });
                }
                Some(search)
            }
            None => None,
        };
        let mut sql = self.statement(search.as_ref());
        // Planned for its own values each time (an unnamed statement): a value's share of the
        // catalog decides between walking the order's index and gathering the matches first.
        let page = sql.build().persistent(false).fetch_all(pool);
        // The counts read every selected row, the page only its first few: on two connections
        // at once, the page costs the answer nothing beside the counts.
        let facets = async {
            match self.narrowing.facets() {
                [] => Ok(None),
                _ => self
                    .count_facets(pool, index, search.as_ref())
                    .await
                    .map(Some),
            }
        };
        let (rows, facets) = tokio::try_join!(page, facets)?;
        let mut items = Vec::with_capacity(rows.len());
        let mut relevance = Vec::with_capacity(rows.len());
        for row in rows {
            let doc: Json<ProductView> = row.try_get("doc")?;
            if self.sort.key == SortKey::Relevance {
                relevance.push((row.try_get("exact")?, row.try_get("rank")?));
            }
            items.push(doc.0);
        }
        let more = items.len() as i64 > self.limit;
        items.truncate(self.limit as usize);
        let next_cursor = more
            .then(|| {
                let last = items.len().checked_sub(1)?;
                let relevance = relevance.get(last).copied();
                Some(Cursor::after(self.sort, &items[last], relevance).encode())
            })
            .flatten();
        let did_you_mean = match (&search, &self.cursor) {
            (Some(search), None) => self.did_you_mean(pool, search).await?,
            _ => None,
        };
        Ok(Page {
            items,
            next_cursor,
            did_you_mean,
            facets,
        })
    }

    /// Every facet asked for, without a value: the counts of a list nothing can match.
    fn facets_of_nothing(&self) -> Option<BTreeMap<String, Vec<FacetValue>>> {
        let facets = self.narrowing.facets();
        (!facets.is_empty()).then(|| facets.iter().map(|f| (f.name(), Vec::new())).collect())
    }

    /// The facets asked for, counted over every product the list selects (not only the
    /// page's): each facet's [`FACET_VALUES_MAX`] most common values, then by value.
    async fn count_facets(
        &self,
        pool: &PgPool,
        index: Option<&FacetIndex>,
        search: Option<&Search>,
    ) -> sqlx::Result<BTreeMap<String, Vec<FacetValue>>> {
        if let (Some(index), Some(selection)) = (index, self.selection()) {
            let names: Vec<String> = self.narrowing.facets().iter().map(Facet::name).collect();
            if let Some(counts) = index.count(pool, &selection, &names).await? {
                metrics::counter!("catalog_facet_counts_total", "by" => "memory").increment(1);
                return Ok(counts);
            }
        }
        metrics::counter!("catalog_facet_counts_total", "by" => "postgres").increment(1);
        let mut sql = self.facet_statement(search);
        let rows: Vec<(String, String, i64)> = sql
            .build_query_as()
            .persistent(false)
            .fetch_all(pool)
            .await?;
        let mut facets = self.facets_of_nothing().unwrap_or_default();
        for (facet, value, count) in rows {
            facets.entry(facet).or_default().push(FacetValue {
                value: token_value(&value),
                count,
            });
        }
        Ok(facets)
    }

    /// The list's selection as the facet index's tokens; `None` when a filter is not one
    /// (`q`, `sku`, `currency`, prices, a value longer than a token keeps).
    pub fn selection(&self) -> Option<Selection> {
        if self.q.is_some()
            || self.sku.is_some()
            || self.currency.is_some()
            || self.min_price.is_some()
            || self.max_price.is_some()
        {
            return None;
        }
        let mut conditions = self.narrowing.conditions()?;
        if let Some(category) = &self.category {
            conditions.insert(
                0,
                Condition::AnyOf {
                    facet: "category".to_string(),
                    tokens: vec![text_token("category", category)],
                    numbers: Vec::new(),
                },
            );
        }
        Some(Selection {
            status: match self.status {
                StatusFilter::Live => None,
                StatusFilter::Only(status) => Some(status),
            },
            conditions,
        })
    }

    /// The SQL [`ListQuery::count_facets`] executes, every value bound: the selected rows'
    /// tokens (their status one more, when asked for) counted in one pass, then each facet's
    /// values ranked. Public so that tests can check its plan.
    pub fn facet_statement<'a>(&'a self, search: Option<&Search>) -> QueryBuilder<'a, Postgres> {
        let status = self.narrowing.facets().contains(&Facet::Status);
        let names: Vec<String> = self.narrowing.facets().iter().map(Facet::name).collect();
        // Stored tokens never start with `status=`: it is not a product type's attribute.
        let tokens = if status {
            "facets || ('status=' || to_jsonb(status)::text)"
        } else {
            "facets"
        };
        let mut sql = QueryBuilder::new(format!(
            "WITH tokens AS MATERIALIZED (SELECT t, count(*) AS n FROM \
             (SELECT unnest({tokens}) AS t FROM product_view WHERE "
        ));
        self.push_filters(&mut sql);
        if let Some(q) = &self.q {
            let widened = search.map_or_else(|| Search::as_written(q).widened(), Search::widened);
            sql.push(" AND search @@ ")
                .push_bind(widened)
                .push("::tsquery");
        }
        // Every token of the hits is counted as it is (one hash of whole strings); only the
        // few hundred distinct ones are then split into facet and value, and kept or dropped.
        // MATERIALIZED keeps it so: inlined, the planner pushes the facet-name test down into
        // the unnest, splitting every token of every hit (a third more time at 6,000 hits).
        sql.push(
            ") hits GROUP BY t), \
             counts AS (SELECT left(t, strpos(t, '=') - 1) AS facet, \
               substr(t, strpos(t, '=') + 1) AS value, n FROM tokens \
             WHERE left(t, strpos(t, '=') - 1) = ANY(",
        )
        .push_bind(names)
        .push(
            ")) SELECT facet, value, n FROM (SELECT facet, value, n, \
             row_number() OVER (PARTITION BY facet ORDER BY n DESC, value COLLATE \"C\") AS r \
             FROM counts) c \
             WHERE r <= ",
        )
        .push_bind(FACET_VALUES_MAX)
        .push(" ORDER BY facet, r");
        sql
    }

    /// The search text with each word the catalog does not know replaced by its nearest word,
    /// when no product the filters select matches the text as written and one matches that.
    async fn did_you_mean(&self, pool: &PgPool, search: &Search) -> sqlx::Result<Option<String>> {
        let Some(suggestion) = search.suggestion() else {
            return Ok(None);
        };
        if self.any_matches(pool, Text::Query(search.exact())).await? {
            return Ok(None);
        }
        let found = self
            .any_matches(pool, Text::Words(suggestion.clone()))
            .await?;
        Ok(found.then_some(suggestion))
    }

    /// Whether any product the list's filters select matches `text`.
    async fn any_matches(&self, pool: &PgPool, text: Text) -> sqlx::Result<bool> {
        let mut sql = QueryBuilder::new("SELECT EXISTS (SELECT 1 FROM product_view WHERE ");
        self.push_filters(&mut sql);
        match text {
            Text::Query(query) => sql
                .push(" AND search @@ ")
                .push_bind(query)
                .push("::tsquery)"),
            Text::Words(words) => sql
                .push(" AND search @@ websearch_to_tsquery('simple', ")
                .push_bind(words)
                .push("))"),
        };
        sql.build_query_scalar().fetch_one(pool).await
    }

    /// The list's filters other than the search text, every value bound: one home for the
    /// list and `did_you_mean`.
    fn push_filters<'a>(&'a self, sql: &mut QueryBuilder<'a, Postgres>) {
        match self.status {
            StatusFilter::Live => sql.push("status <> 'archived'"),
            StatusFilter::Only(status) => sql.push("status = ").push_bind(status),
        };
        // With filters on what products are, the category is one more token of the same GIN
        // lookup, which intersects them all before any row is read; alone, its own index.
        match &self.category {
            Some(category) if self.narrowing.filters() => {
                self.narrowing.push_category(sql, category);
            }
            Some(category) => {
                sql.push(" AND category = ").push_bind(category);
            }
            None => {}
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
        self.narrowing.push_filters(sql);
    }

    /// The SQL [`ListQuery::run`] executes, every value bound; one row more than the page, to
    /// tell whether another follows. A list with `q` needs its [`Search`]. Public so that
    /// tests can check its plan.
    pub fn statement<'a>(&'a self, search: Option<&Search>) -> QueryBuilder<'a, Postgres> {
        let (exact, widened) = match search {
            Some(search) => (search.exact(), search.widened()),
            // Without its expansion a search matches its words as written.
            None => {
                let words = self.q.as_deref().map(|q| Search::as_written(q).widened());
                (words.clone().unwrap_or_default(), words.unwrap_or_default())
            }
        };
        let relevance = self.sort.key == SortKey::Relevance;
        let mut sql = if relevance {
            let mut sql = QueryBuilder::new("SELECT doc, search @@ ");
            sql.push_bind(exact.clone())
                .push("::tsquery AS exact, ts_rank(search, ")
                .push_bind(widened.clone())
                .push("::tsquery) AS rank FROM product_view WHERE ");
            sql
        } else {
            QueryBuilder::new("SELECT doc FROM product_view WHERE ")
        };
        self.push_filters(&mut sql);
        if self.q.is_some() {
            sql.push(" AND search @@ ")
                .push_bind(widened.clone())
                .push("::tsquery");
        }
        if relevance {
            if let Some(cursor) = &self.cursor {
                sql.push(" AND ((search @@ ")
                    .push_bind(exact.clone())
                    .push("::tsquery)::int, ts_rank(search, ")
                    .push_bind(widened.clone())
                    .push("::tsquery), id) < (")
                    .push_bind(i32::from(cursor.exact == Some(true)))
                    .push(", ")
                    .push_bind(cursor.rank)
                    .push("::real, ")
                    .push_bind(cursor.id.clone())
                    .push(")");
            }
            sql.push(" ORDER BY exact DESC, rank DESC, id DESC LIMIT ")
                .push_bind(self.limit + 1);
            return sql;
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
                SortKey::Relevance => unreachable!("relevance is ordered above"),
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

/// Which of a list's statements [`ListQuery::plan`] explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// The page: [`ListQuery::statement`].
    Page,
    /// The facet counts: [`ListQuery::facet_statement`].
    Facets,
}

/// What a product's search vector is matched against.
enum Text {
    /// A tsquery, as text.
    Query(String),
    /// Words, as a person would type them (`websearch_to_tsquery`).
    Words(String),
}

/// One page of a list.
#[derive(Debug, Default)]
pub struct Page {
    /// The page's products, in the list's order.
    pub items: Vec<ProductView>,
    /// The `cursor` of the next page; `None` on the last one.
    pub next_cursor: Option<String>,
    /// For a search nothing matches as written: the text with its unknown words replaced by
    /// the nearest ones the catalog has, when that text matches.
    pub did_you_mean: Option<String>,
    /// With `facets`: each facet asked for, by name, with its values' counts over every
    /// product the list selects.
    pub facets: Option<BTreeMap<String, Vec<FacetValue>>>,
}

/// Typo-tolerant search text: the text's query as written (web-search syntax), the same query
/// with each word of letters widened to its typo-neighbours, and its words (see the module's
/// documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// `websearch_to_tsquery` of the text, as tsquery text.
    exact: String,
    /// `exact` with each widened word `w` rewritten to `(w | n1 | n2 …)`.
    widened: String,
    words: Vec<Word>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    /// As the search vector holds it: lower-cased.
    text: String,
    /// Whether the vocabulary holds it; a word without a typo allowance (digits, fewer than 4
    /// letters) counts as known: it is never widened, and never corrected.
    known: bool,
    /// The catalog's words within its allowance, nearest first.
    near: Vec<String>,
}

/// The most words one search word is widened to: the nearest, then alphabetical.
const WIDENED_MAX: i64 = 32;

impl Search {
    /// Parses `q` as before (`websearch_to_tsquery`: words, `"phrases"`, `-excluded`, `or`) and
    /// finds each word's typo-neighbours in the vocabulary: words of letters, 4 to 7 of them
    /// within one edit (insertion, deletion or substitution), 8 or more within two. The
    /// trigram index finds candidates (a word within two edits of one of 8 letters shares at
    /// least a sixth of its trigrams, so the similarity threshold is lowered for this
    /// transaction), and `levenshtein_less_equal` keeps those truly within reach. Each widened
    /// word is then rewritten in the query (`ts_rewrite`), so phrases and exclusions keep
    /// their shape.
    pub async fn expand(conn: &mut PgConnection, q: &str) -> sqlx::Result<Self> {
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT set_config('pg_trgm.similarity_threshold', '0.15', true)")
            .execute(&mut *tx)
            .await?;
        let rows: Vec<(String, bool, Vec<String>)> = sqlx::query_as(
            "SELECT q.word, \
                    a.edits = 0 \
                      OR EXISTS (SELECT 1 FROM search_words s WHERE s.word = q.word), \
                    coalesce(array_agg(n.word ORDER BY n.distance, n.word) \
                             FILTER (WHERE n.word IS NOT NULL), '{}') \
             FROM (SELECT lexeme AS word, positions[1] AS at \
                   FROM unnest(to_tsvector('simple', $1))) q \
             CROSS JOIN LATERAL (SELECT CASE \
                 WHEN q.word ~ '[[:digit:]]' OR char_length(q.word) NOT BETWEEN 4 AND 64 THEN 0 \
                 WHEN char_length(q.word) < 8 THEN 1 ELSE 2 END AS edits) a \
             LEFT JOIN LATERAL ( \
                 SELECT s.word, levenshtein_less_equal(s.word, q.word, a.edits) AS distance \
                 FROM search_words s \
                 WHERE a.edits > 0 AND s.word % q.word AND s.word <> q.word \
                   AND levenshtein_less_equal(s.word, q.word, a.edits) <= a.edits \
                 ORDER BY 2, 1 LIMIT $2) n ON true \
             GROUP BY q.word, q.at, a.edits ORDER BY q.at",
        )
        .bind(q)
        .bind(WIDENED_MAX)
        .fetch_all(&mut *tx)
        .await?;
        let words: Vec<Word> = rows
            .into_iter()
            .map(|(text, known, near)| Word { text, known, near })
            .collect();
        let widened = words.iter().filter(|w| !w.near.is_empty());
        let targets: Vec<String> = widened.clone().map(|w| quote(&w.text)).collect();
        let substitutes: Vec<String> = widened
            .map(|w| {
                let any: Vec<String> = std::iter::once(&w.text)
                    .chain(&w.near)
                    .map(|word| quote(word))
                    .collect();
                any.join(" | ")
            })
            .collect();
        let (exact, widened): (String, String) = sqlx::query_as(
            "WITH RECURSIVE subs AS ( \
                 SELECT n, target, substitute \
                 FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS s(target, substitute, n) \
             ), rewritten(n, query) AS ( \
                 SELECT 0::bigint, websearch_to_tsquery('simple', $1) \
                 UNION ALL \
                 SELECT s.n, ts_rewrite(r.query, s.target::tsquery, s.substitute::tsquery) \
                 FROM rewritten r JOIN subs s ON s.n = r.n + 1 \
             ) \
             SELECT websearch_to_tsquery('simple', $1)::text, \
                    (SELECT query FROM rewritten ORDER BY n DESC LIMIT 1)::text",
        )
        .bind(q)
        .bind(&targets)
        .bind(&substitutes)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Self {
            exact,
            widened,
            words,
        })
    }

    /// `q` as written, widened to nothing: a search without its vocabulary, for a statement
    /// built where no database is at hand (its plan, in tests). Its words are joined by `&`.
    pub fn as_written(q: &str) -> Self {
        let words: Vec<Word> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| Word {
                text: w.to_lowercase(),
                known: true,
                near: Vec::new(),
            })
            .collect();
        let exact = words
            .iter()
            .map(|w| quote(&w.text))
            .collect::<Vec<_>>()
            .join(" & ");
        Self {
            widened: exact.clone(),
            exact,
            words,
        }
    }

    /// Whether the text holds no word at all (punctuation only): then nothing matches.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The tsquery of the text as written.
    fn exact(&self) -> String {
        self.exact.clone()
    }

    /// The tsquery a product must match: the text with its words widened.
    fn widened(&self) -> String {
        self.widened.clone()
    }

    /// The text's words with each unknown one replaced by its nearest neighbour; `None` when
    /// every word is known or an unknown one has none.
    fn suggestion(&self) -> Option<String> {
        if self.words.iter().all(|w| w.known) {
            return None;
        }
        let words: Option<Vec<&str>> = self
            .words
            .iter()
            .map(|w| match w.known {
                true => Some(w.text.as_str()),
                false => w.near.first().map(String::as_str),
            })
            .collect();
        words.map(|words| words.join(" "))
    }
}

/// A word as a quoted tsquery lexeme, so that nothing in it is read as tsquery syntax.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\\', "\\\\").replace('\'', "''"))
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
        assert_eq!(
            query.statement(None).into_sql(),
            first.statement(None).into_sql()
        );
    }

    #[test]
    fn a_cursor_only_serves_the_sort_it_was_made_for() {
        let cursor = Cursor {
            sort: SortKey::Name,
            desc: false,
            name: Some("a".into()),
            price: None,
            updated: None,
            exact: None,
            rank: None,
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
        let sql = query.statement(None).into_sql();
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(sql.contains("category = $"), "{sql}");
    }

    #[test]
    fn a_search_is_sorted_by_relevance_unless_told_otherwise() {
        let query = ListQuery::parse(Some("q=coffee")).unwrap();
        assert_eq!(query.sort.key, SortKey::Relevance);
        let query = ListQuery::parse(Some("q=coffee&sort=name")).unwrap();
        assert_eq!(query.sort.key, SortKey::Name);
        let query = ListQuery::parse(Some("sort=relevance")).unwrap();
        assert_eq!(query.sort, ListQuery::parse(None).unwrap().sort);
        assert_eq!(
            fields(ListQuery::parse(Some("q=coffee&sort=-relevance")).unwrap_err()),
            ["sort"]
        );
        let sql = ListQuery::parse(Some("q=coffee"))
            .unwrap()
            .statement(None)
            .into_sql();
        assert!(
            sql.contains("ORDER BY exact DESC, rank DESC, id DESC"),
            "{sql}"
        );
    }

    #[test]
    fn a_relevance_cursor_needs_its_rank() {
        let cursor = |rank: Option<f32>| {
            Cursor {
                sort: SortKey::Relevance,
                desc: true,
                name: None,
                price: None,
                updated: None,
                exact: Some(true),
                rank,
                id: "x".into(),
            }
            .encode()
        };
        let good = format!("q=coffee&cursor={}", cursor(Some(0.06079271)));
        let query = ListQuery::parse(Some(&good)).unwrap();
        assert_eq!(query.cursor.unwrap().rank, Some(0.06079271));
        for bad in [cursor(None), cursor(Some(f32::NAN))] {
            assert_eq!(
                fields(ListQuery::parse(Some(&format!("q=coffee&cursor={bad}"))).unwrap_err()),
                ["cursor"]
            );
        }
    }

    #[test]
    fn a_word_is_quoted_as_one_lexeme() {
        assert_eq!(quote("o'brien"), "'o''brien'");
        assert_eq!(quote("a\\b"), "'a\\\\b'");
        let search = Search::as_written("Cold Brew!");
        assert_eq!(search.exact(), "'cold' & 'brew'");
        assert!(Search::as_written("?!").is_empty());
    }
}
