//! A synthetic event store for the rebuild benchmark: consistent product histories made from
//! the domain's own event types, loaded with COPY so that PostgreSQL's hash-chain trigger
//! runs on every row as it does for events the services append.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use catalog_domain::{AttributeValue, Details, Locale, LocalizedText, Money, ProductEvent};
use cqrs_es::DomainEvent;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

/// Products per COPY (one transaction each): progress is visible and a failure loses little.
const PRODUCTS_PER_COPY: usize = 2_000;

pub async fn run(database_url: &str, products: usize, per_product: usize) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await?;
    let started = Instant::now();
    let mut written = 0usize;
    let mut rows = String::new();
    for first in (0..products).step_by(PRODUCTS_PER_COPY) {
        rows.clear();
        for n in first..(first + PRODUCTS_PER_COPY).min(products) {
            for (sequence, event) in history(n, per_product).iter().enumerate() {
                push_row(&mut rows, n, sequence as u64 + 1, event)?;
                written += 1;
            }
        }
        let mut conn = pool.acquire().await?;
        let mut copy = conn
            .copy_in_raw(
                "COPY events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata) FROM STDIN",
            )
            .await?;
        copy.send(rows.as_bytes()).await?;
        copy.finish().await?;
        eprint!("\r{written} events");
    }
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"events": written, "products": products, "seconds": seconds})
    );
    Ok(())
}

/// Product ids are fixed by their number, so that reruns make the same store.
fn product_id(n: usize) -> String {
    format!("00000000-0000-7000-8000-{n:012x}")
}

/// One product's history: created, then a deterministic mix of the everyday events, each
/// consistent with the state before it (stock never negative, publish only when a draft).
fn history(n: usize, events: usize) -> Vec<ProductEvent> {
    let mut rng = fastrand::Rng::with_seed(n as u64);
    let mut details = Details::named(format!("Product {n}"));
    // Every other product in two locales, as a shop selling in two languages has them.
    let texts = |english: String, german: String| {
        let mut texts = BTreeMap::from([("en".to_string(), english)]);
        if n.is_multiple_of(2) {
            texts.insert("de".to_string(), german);
        }
        LocalizedText::from_map(texts)
    };
    details.name = texts(format!("Product {n}"), format!("Produkt {n}"));
    details.description = Some(texts(
        format!("The description of product {n}, long enough to be real."),
        format!("Die Beschreibung von Produkt {n}, lang genug, um echt zu sein."),
    ));
    details.category = Some(["mugs", "shirts", "lamps", "books"][n % 4].to_string());
    details.attributes = BTreeMap::from([
        ("colour".to_string(), AttributeValue::from("blue")),
        ("size".to_string(), AttributeValue::from("M")),
    ]);
    let mut price = Money::new(1000 + (n as i64 % 9000), "EUR");
    let mut stock = 100i64;
    let mut published = false;
    let mut history = vec![ProductEvent::ProductCreated {
        sku: format!("SKU-{n}"),
        product_type: None,
        details: details.clone(),
        price: price.clone(),
        stock,
    }];
    while history.len() < events {
        let event = match rng.u8(..100) {
            0..=49 => {
                let delta = rng.i64(-5..=10).max(-stock);
                stock += delta;
                ProductEvent::StockAdjusted {
                    delta,
                    reason: "delivery".to_string(),
                    stock,
                }
            }
            50..=69 => {
                let previous = price.clone();
                price = Money::new(rng.i64(100..100_000), "EUR");
                ProductEvent::PriceChanged {
                    price: price.clone(),
                    previous,
                }
            }
            70..=84 => {
                details.name = LocalizedText::single(
                    &Locale::default(),
                    format!("Product {n} rev {}", history.len()),
                );
                ProductEvent::DetailsUpdated {
                    details: details.clone(),
                    changed: vec!["name".to_string()],
                }
            }
            _ => {
                published = !published;
                if published {
                    ProductEvent::ProductPublished {}
                } else {
                    ProductEvent::ProductUnpublished {}
                }
            }
        };
        history.push(event);
    }
    history
}

/// One row in COPY's text format: tab-separated, backslashes doubled (serde_json escapes every
/// tab and newline inside strings, so those never appear raw).
fn push_row(
    rows: &mut String,
    n: usize,
    sequence: u64,
    event: &ProductEvent,
) -> anyhow::Result<()> {
    let payload = serde_json::to_string(event)?.replace('\\', "\\\\");
    let metadata = json!({
        "actor": "bench",
        "request_id": format!("bench-{n}-{sequence}"),
        "correlation_id": format!("bench-{n}"),
    });
    writeln!(
        rows,
        "Product\t{}\t{sequence}\t{}\t{}\t{payload}\t{metadata}",
        product_id(n),
        event.type_name(),
        event.event_version(),
    )?;
    Ok(())
}
