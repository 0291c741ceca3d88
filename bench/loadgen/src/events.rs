//! A synthetic event store for the rebuild benchmark: consistent product histories made from
//! the domain's own event types, loaded with COPY so that PostgreSQL's hash-chain trigger
//! runs on every row as it does for events the services append.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use catalog_domain::{
    AttributeDefinition, AttributeKind, AttributeValue, Details, Level, Locale, LocalizedText,
    Money, ProductEvent, ProductTypeEvent,
};
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
        if first == 0 {
            // The type every fourth product (the mugs) is typed with.
            let mug = mug_type();
            let row = Row {
                aggregate_type: "ProductType",
                id: "mug",
                sequence: 1,
                event_type: mug.type_name(),
                event_version: mug.event_version(),
                payload: serde_json::to_string(&mug)?,
            };
            // Not counted: `written` is what a rebuild replays, the products' events.
            row.push(&mut rows, 0)?;
        }
        for n in first..(first + PRODUCTS_PER_COPY).min(products) {
            let id = product_id(n);
            for (sequence, event) in history(n, per_product).iter().enumerate() {
                let row = Row {
                    aggregate_type: "Product",
                    id: &id,
                    sequence: sequence as u64 + 1,
                    event_type: event.type_name(),
                    event_version: event.event_version(),
                    payload: serde_json::to_string(event)?,
                };
                row.push(&mut rows, n)?;
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
    // The mugs are typed: a number, a text per locale and an enum, as their type defines.
    let product_type = n.is_multiple_of(4).then(|| "mug".to_string());
    details.attributes = match product_type {
        Some(_) => BTreeMap::from([
            (
                "volume_ml".to_string(),
                AttributeValue::Number((250 + n % 200).into()),
            ),
            (
                "material".to_string(),
                AttributeValue::Localized(texts("stoneware".to_string(), "Steinzeug".to_string())),
            ),
            ("colour".to_string(), AttributeValue::from("blue")),
        ]),
        None => BTreeMap::from([
            ("colour".to_string(), AttributeValue::from("blue")),
            ("size".to_string(), AttributeValue::from("M")),
        ]),
    };
    let mut price = Money::new(1000 + (n as i64 % 9000), "EUR");
    let mut stock = 100i64;
    let mut published = false;
    let mut history = vec![ProductEvent::ProductCreated {
        sku: format!("SKU-{n}"),
        product_type,
        details: details.clone(),
        price: price.clone(),
        stock,
        variant_attributes: Default::default(),
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

/// The type of the seeded mugs.
fn mug_type() -> ProductTypeEvent {
    let attribute = |name: &str, kind, required| AttributeDefinition {
        name: name.to_string(),
        kind,
        required,
        values: None,
        level: Level::Product,
        facet: false,
    };
    ProductTypeEvent::ProductTypeCreated {
        key: "mug".to_string(),
        name: "Mug".to_string(),
        attributes: vec![
            attribute("volume_ml", AttributeKind::Number, true),
            attribute("material", AttributeKind::Ltext, true),
            AttributeDefinition {
                values: Some(vec!["blue".to_string(), "white".to_string()]),
                ..attribute("colour", AttributeKind::Enum, false)
            },
        ],
    }
}

/// One stored event, as a row of the events table.
struct Row<'a> {
    aggregate_type: &'a str,
    id: &'a str,
    sequence: u64,
    event_type: &'a str,
    event_version: String,
    payload: String,
}

impl Row<'_> {
    /// The row in COPY's text format: tab-separated, backslashes doubled (serde_json escapes
    /// every tab and newline inside strings, so those never appear raw). `n` names the seeding
    /// request in the metadata.
    fn push(&self, rows: &mut String, n: usize) -> anyhow::Result<()> {
        let payload = self.payload.replace('\\', "\\\\");
        let metadata = json!({
            "actor": "bench",
            "request_id": format!("bench-{n}-{}", self.sequence),
            "correlation_id": format!("bench-{n}"),
        });
        writeln!(
            rows,
            "{}\t{}\t{}\t{}\t{}\t{payload}\t{metadata}",
            self.aggregate_type, self.id, self.sequence, self.event_type, self.event_version,
        )?;
        Ok(())
    }
}
