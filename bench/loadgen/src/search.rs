//! Row 9: `GET /products` on the search catalog (`catalog-bench events --search`) from a few
//! concurrent clients, three cases each timed on its own: a search with a typo, a list with two
//! filters and six facets, and the tenth page of a keyset-paged list. Beside each, the plans
//! PostgreSQL makes of the very statements query-api runs (built by `catalog-read-model`, as
//! query-api builds them, on the live read model), with whether they are served by indexes.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use catalog_read_model::generation::{pool_in, LIVE_SCHEMA};
use catalog_read_model::listing::{ListQuery, Planned};
use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::events::{vocabulary, CATEGORIES, COLOURS};
use crate::latency::Latencies;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    query_api: String,
    /// The database query-api reads: the plans are read from it.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Concurrent clients, each sending its next request as soon as the last is answered.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Requests each client sends in each case, unless `seconds` run out first.
    #[arg(long, default_value_t = 250)]
    requests: usize,
    /// The longest a case lasts.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Where the plans (EXPLAIN ANALYZE) of each case's statements are written.
    #[arg(long)]
    plans: PathBuf,
}

/// Distinct search words (and as many filter combinations at most) a case goes through, so
/// that no one answer cached anywhere flatters it.
const VARIETY: usize = 50;
/// The facets the faceted case counts.
const FACETS: &str = "category,type,attr.brand,attr.colour,attr.size,attr.organic";
/// The lists whose tenth page is timed: the default order, by name and by price, unfiltered
/// and filtered.
const PAGED: [&str; 5] = [
    "",
    "sort=name",
    "sort=price",
    "category=hoodies&sort=name",
    "attr.colour=navy&sort=-price",
];

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let http = crate::client::http(args.clients)?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.database_url)
        .await?;
    let pool = pool_in(&pool, LIVE_SCHEMA);
    let mut plans = String::new();

    let vocabulary = vocabulary();
    let typos: Vec<String> = typos(&vocabulary, VARIETY)
        .into_iter()
        .map(|typo| format!("q={typo}"))
        .collect();
    let faceted: Vec<String> = (0..VARIETY)
        .map(|i| {
            format!(
                "category={}&attr.colour={}&facets={FACETS}",
                CATEGORIES[i % CATEGORIES.len()],
                COLOURS[i * 7 % COLOURS.len()]
            )
        })
        .collect();
    let mut tenth = Vec::new();
    for list in PAGED {
        tenth.push(tenth_page(&http, &args.query_api, list).await?);
    }

    let mut cases = serde_json::Map::new();
    let typo = Case {
        name: "typo",
        queries: typos,
        check: Check::Items,
    };
    let facets = Case {
        name: "facets",
        queries: faceted,
        check: Check::Facets,
    };
    let paged = Case {
        name: "page10",
        queries: tenth,
        check: Check::Items,
    };
    for case in [typo, facets, paged] {
        let mut index = true;
        // The slowest of the queries explained, in PostgreSQL alone: its statements' time.
        let mut plan_ms: f64 = 0.0;
        // A few of the case's queries (each of the paged lists), planned and run as query-api
        // runs them.
        let explained = if case.queries.len() <= PAGED.len() {
            case.queries.len()
        } else {
            3
        };
        for query in case.queries.iter().take(explained) {
            let mut statements = vec![(false, explain(&pool, query, false).await?)];
            if query.contains("facets=") {
                statements.push((true, explain(&pool, query, true).await?));
            }
            plan_ms = plan_ms.max(statements.iter().map(|(_, plan)| execution_ms(plan)).sum());
            for (facets, plan) in statements {
                let indexed = served_by_indexes(&plan);
                index &= indexed;
                plans.push_str(&format!(
                    "-- {}: GET /products?{query}{} — served by indexes: {}\n{plan}\n\n",
                    case.name,
                    if facets { " (its facet counts)" } else { "" },
                    if indexed { "yes" } else { "NO" },
                ));
            }
        }
        let before = facet_counts(&http, &args.query_api).await?;
        let mut measured = case.load(&http, args).await?;
        let after = facet_counts(&http, &args.query_api).await?;
        // Where query-api counted the case's facets: its in-memory index or PostgreSQL.
        measured["facets_counted"] = json!({
            "memory": after.0 - before.0,
            "postgres": after.1 - before.1,
        });
        measured["index"] = json!(index);
        measured["plan_ms"] = json!(plan_ms);
        measured["explained"] = json!(explained);
        cases.insert(case.name.to_string(), measured);
    }
    std::fs::write(&args.plans, plans).with_context(|| format!("writing {:?}", args.plans))?;
    let mut out = json!({
        "clients": args.clients,
        "requests_per_client": args.requests,
    });
    out.as_object_mut().expect("an object").extend(cases);
    println!("{out}");
    Ok(())
}

/// `count` words of the vocabulary, half of 4 to 7 letters and half of 8 or more, each with a
/// typo within the search's allowance: one edit (a letter changed, dropped or doubled) in the
/// short ones, two (two neighbouring letters swapped) in the long ones.
fn typos(vocabulary: &[String], count: usize) -> Vec<String> {
    let words: HashSet<&str> = vocabulary.iter().map(String::as_str).collect();
    // A typo that is itself a word would be no typo.
    let typo = |typo: String| (!words.contains(typo.as_str())).then_some(typo);
    let short = vocabulary.iter().filter(|w| (4..8).contains(&w.len()));
    let long = vocabulary.iter().filter(|w| w.len() >= 8);
    let mut typos: Vec<String> = short
        .enumerate()
        .filter_map(|(i, word)| typo(one_edit(word, i)))
        .take(count / 2)
        .collect();
    typos.extend(
        long.filter_map(|word| typo(two_edits(word)))
            .take(count - typos.len()),
    );
    typos
}

/// `word` (of 4 to 7 letters) with one edit, the `i`th kind: a letter dropped (leaving 4 at
/// least), a letter doubled (making 7 at most), or else a letter changed.
fn one_edit(word: &str, i: usize) -> String {
    let mut letters: Vec<char> = word.chars().collect();
    let at = 1 + i % (letters.len() - 1);
    match i % 3 {
        1 if letters.len() > 4 => {
            letters.remove(at);
        }
        2 if letters.len() < 7 => letters.insert(at, letters[at]),
        _ => letters[at] = if letters[at] == 'x' { 'q' } else { 'x' },
    }
    letters.into_iter().collect()
}

/// `word` with two neighbouring letters that differ swapped (two edits), past its first two.
fn two_edits(word: &str) -> String {
    let mut letters: Vec<char> = word.chars().collect();
    let at = (2..letters.len() - 1)
        .find(|&at| letters[at] != letters[at + 1])
        .unwrap_or(2);
    letters.swap(at, at + 1);
    letters.into_iter().collect()
}

/// `list`'s query with the cursor of its tenth page, followed through the first nine.
async fn tenth_page(http: &reqwest::Client, base: &str, list: &str) -> anyhow::Result<String> {
    let mut query = list.to_string();
    for page in 1..10 {
        let body = get(http, base, &query).await?;
        let cursor = body["next_cursor"]
            .as_str()
            .with_context(|| format!("GET /products?{query} (page {page}) has no next page"))?;
        query = match list {
            "" => format!("cursor={cursor}"),
            _ => format!("{list}&cursor={cursor}"),
        };
    }
    Ok(query)
}

/// query-api's `catalog_facet_counts_total` so far: lists counted from memory, and in
/// PostgreSQL.
async fn facet_counts(http: &reqwest::Client, base: &str) -> anyhow::Result<(u64, u64)> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let total = |by: &str| {
        let series = format!("catalog_facet_counts_total{{by=\"{by}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&series))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .map_or(0, |n| n as u64)
    };
    Ok((total("memory"), total("postgres")))
}

async fn get(http: &reqwest::Client, base: &str, query: &str) -> anyhow::Result<Value> {
    let response = http.get(format!("{base}/products?{query}")).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!(
            "GET /products?{query} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("GET /products?{query}'s body"))
}

/// What every answer of a case must hold, or the figure would time something else.
#[derive(Clone, Copy)]
enum Check {
    /// At least one product.
    Items,
    /// Every facet asked for, each with a value at least.
    Facets,
}

impl Check {
    fn holds(self, body: &Value) -> Result<(), String> {
        match self {
            Self::Items => match body["items"].as_array() {
                Some(items) if !items.is_empty() => Ok(()),
                _ => Err("no items".to_string()),
            },
            Self::Facets => {
                let facets = body["facets"].as_object().ok_or("no facets")?;
                for name in FACETS.split(',') {
                    match facets.get(name).and_then(Value::as_array) {
                        Some(values) if !values.is_empty() => {}
                        _ => return Err(format!("no values of facet {name}")),
                    }
                }
                Ok(())
            }
        }
    }
}

/// One case: the queries its requests go through in turn, and what each answer must hold.
struct Case {
    name: &'static str,
    queries: Vec<String>,
    check: Check,
}

impl Case {
    /// Sends the case's requests from `clients` closed loops; their latencies, overall and by
    /// query. An answer that fails the check fails the bench.
    async fn load(&self, http: &reqwest::Client, args: &Args) -> anyhow::Result<Value> {
        let queries = Arc::new(self.queries.clone());
        let check = self.check;
        let started = Instant::now();
        let until = started + Duration::from_secs(args.seconds);
        let loops = (0..args.clients).map(|client| {
            let (http, queries) = (http.clone(), queries.clone());
            let (base, clients, requests) = (args.query_api.clone(), args.clients, args.requests);
            tokio::spawn(async move {
                let mut latencies = Latencies::new();
                let mut by_query: BTreeMap<usize, Latencies> = BTreeMap::new();
                let mut errors = Vec::new();
                for i in 0..requests {
                    if Instant::now() >= until {
                        break;
                    }
                    let q = (client + i * clients) % queries.len();
                    let url = format!("{base}/products?{}", queries[q]);
                    let sent = Instant::now();
                    let answer = match http.get(&url).send().await {
                        Ok(response) => {
                            let status = response.status();
                            response.bytes().await.map(|body| (status, body))
                        }
                        Err(err) => Err(err),
                    };
                    let elapsed = sent.elapsed();
                    match answer {
                        Ok((status, body)) if status.is_success() => {
                            let body: Value = serde_json::from_slice(&body)?;
                            check.holds(&body).map_err(|why| {
                                anyhow!("GET /products?{} answered {why}", queries[q])
                            })?;
                            latencies.record(elapsed);
                            by_query
                                .entry(q)
                                .or_insert_with(Latencies::new)
                                .record(elapsed);
                        }
                        Ok((status, body)) => {
                            errors.push(format!("{status}: {}", String::from_utf8_lossy(&body)));
                        }
                        Err(err) => errors.push(err.to_string()),
                    }
                }
                anyhow::Ok((latencies, by_query, errors))
            })
        });
        let mut latencies = Latencies::new();
        let mut by_query: BTreeMap<usize, Latencies> = BTreeMap::new();
        let mut errors = Vec::new();
        for done in join_all(loops).await {
            let (l, q, e) = done??;
            latencies.merge(&l);
            for (query, l) in q {
                by_query
                    .entry(query)
                    .or_insert_with(Latencies::new)
                    .merge(&l);
            }
            errors.extend(e);
        }
        let seconds = started.elapsed().as_secs_f64();
        let summary = latencies.summary();
        let mut measured = json!({
            "queries": self.queries.len(),
            "seconds": seconds,
            "errors": errors.len(),
            "first_error": errors.first(),
            "per_second": summary.count as f64 / seconds,
            "latency": summary,
        });
        // Few queries, each timed often: which of them is slow, if the case is.
        if self.queries.len() <= PAGED.len() {
            let slowest: serde_json::Map<String, Value> = by_query
                .into_iter()
                .map(|(q, l)| {
                    (
                        PAGED.get(q).copied().unwrap_or("?").to_string(),
                        json!(l.summary()),
                    )
                })
                .collect();
            measured["by_query"] = Value::Object(slowest);
        }
        Ok(measured)
    }
}

/// The plan PostgreSQL makes and runs (EXPLAIN ANALYZE) of the statement query-api runs for
/// `GET /products?<query>`, or with `facets` of its facet counts.
async fn explain(pool: &PgPool, query: &str, facets: bool) -> anyhow::Result<String> {
    let list = ListQuery::parse(Some(query)).map_err(|errors| anyhow!("{query}: {errors:?}"))?;
    let which = if facets {
        Planned::Facets
    } else {
        Planned::Page
    };
    Ok(list.plan(pool, which, "(ANALYZE, BUFFERS)").await?)
}

/// The time EXPLAIN ANALYZE reports the statement took to execute, in milliseconds.
fn execution_ms(plan: &str) -> f64 {
    plan.lines()
        .find_map(|line| line.trim().strip_prefix("Execution Time:"))
        .and_then(|rest| rest.trim().trim_end_matches("ms").trim().parse().ok())
        .unwrap_or(0.0)
}

/// Whether a plan reads through an index and scans no table whole.
fn served_by_indexes(plan: &str) -> bool {
    ["Index Scan", "Index Only Scan", "Bitmap Index Scan"]
        .iter()
        .any(|node| plan.contains(node))
        && !plan.contains("Seq Scan")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_within_the_search_allowance_and_not_words_of_it() {
        let vocabulary = vocabulary();
        let typos = typos(&vocabulary, VARIETY);
        assert_eq!(typos.len(), VARIETY);
        let distance = |a: &str, b: &str| {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            let mut row: Vec<usize> = (0..=b.len()).collect();
            for i in 1..=a.len() {
                let mut previous = row[0];
                row[0] = i;
                for j in 1..=b.len() {
                    let next = (row[j] + 1)
                        .min(row[j - 1] + 1)
                        .min(previous + usize::from(a[i - 1] != b[j - 1]));
                    previous = row[j];
                    row[j] = next;
                }
            }
            row[b.len()]
        };
        let (short, long): (Vec<_>, Vec<_>) = typos.iter().partition(|t| t.len() < 8);
        assert_eq!(short.len(), VARIETY / 2, "{typos:?}");
        for typo in &typos {
            assert!(typo.len() >= 4, "{typo}");
            let allowance = if typo.len() < 8 { 1 } else { 2 };
            let nearest = vocabulary.iter().map(|w| distance(w, typo)).min().unwrap();
            assert!(
                (1..=allowance).contains(&nearest),
                "{typo} is {nearest} edits from the vocabulary"
            );
        }
        assert!(long.len() == VARIETY / 2);
    }

    #[test]
    fn plans_are_served_by_indexes_without_scanning_a_table() {
        assert!(served_by_indexes(
            "Limit\n  ->  Index Scan using product_view_live_name_idx on product_view"
        ));
        assert!(!served_by_indexes(
            "Hash Join\n  ->  Seq Scan on product_facet_values f\n  ->  Index Scan using x"
        ));
        assert!(!served_by_indexes("Sort\n  ->  Function Scan on unnest"));
        assert!(served_by_indexes(
            "Bitmap Heap Scan on product_view\n  ->  Bitmap Index Scan on product_view_search_idx"
        ));
        assert_eq!(
            execution_ms("Limit\nPlanning Time: 0.512 ms\nExecution Time: 12.250 ms"),
            12.25
        );
    }

    #[test]
    fn the_checks_hold_only_for_real_matches() {
        assert!(Check::Items.holds(&json!({"items": [{}]})).is_ok());
        assert!(Check::Items.holds(&json!({"items": []})).is_err());
        let facets: serde_json::Map<String, Value> = FACETS
            .split(',')
            .map(|f| (f.to_string(), json!([{"value": "x", "count": 1}])))
            .collect();
        assert!(Check::Facets.holds(&json!({ "facets": facets })).is_ok());
        let mut missing = facets.clone();
        missing.insert("attr.organic".into(), json!([]));
        assert!(Check::Facets.holds(&json!({ "facets": missing })).is_err());
        assert_ne!(crate::events::brand(49), crate::events::brand(0));
    }
}
