//! A synthetic event store for the rebuild and search benchmarks: consistent product histories
//! made from the domain's own event types, loaded with COPY so that PostgreSQL's hash-chain
//! trigger runs on every row as it does for events the services append.
//!
//! Two catalogs: row 4's long histories (`per_product` events each, a mix of the everyday
//! ones), and row 9's search catalog: one `ProductCreated` each (and a `ProductPublished` for
//! every third), names of three pseudo-words, typed shirts whose attributes are facets.

use std::collections::{BTreeMap, HashSet};
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

/// What the store's products are like.
pub enum Catalog {
    /// Row 4's: `per_product` events each, a deterministic mix of the everyday events; every
    /// fourth product a mug of a typed product type.
    Histories { per_product: usize },
    /// Row 9's: a catalog to search, one `ProductCreated` each (every third then published),
    /// names of three words of [`vocabulary`], every product a shirt whose attributes are
    /// facets.
    Search { vocabulary: Vec<String> },
}

impl Catalog {
    /// The search catalog, its vocabulary generated.
    pub fn search() -> Self {
        Self::Search {
            vocabulary: vocabulary(),
        }
    }

    /// The product type the catalog's typed products have.
    fn product_type(&self) -> ProductTypeEvent {
        match self {
            Self::Histories { .. } => mug_type(),
            Self::Search { .. } => shirt_type(),
        }
    }

    /// Product `n`'s events, in order.
    fn history(&self, n: usize) -> Vec<ProductEvent> {
        match self {
            Self::Histories { per_product } => history(n, *per_product),
            Self::Search { vocabulary } => shirt(n, vocabulary),
        }
    }
}

pub async fn run(database_url: &str, products: usize, catalog: &Catalog) -> anyhow::Result<()> {
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
            // The type the typed products are typed with.
            let product_type = catalog.product_type();
            let ProductTypeEvent::ProductTypeCreated { key, .. } = &product_type else {
                unreachable!("the catalogs' types are created")
            };
            let row = Row {
                aggregate_type: "ProductType",
                id: key,
                sequence: 1,
                event_type: product_type.type_name(),
                event_version: product_type.event_version(),
                payload: serde_json::to_string(&product_type)?,
            };
            // Not counted: `written` is what a rebuild replays, the products' events.
            row.push(&mut rows, 0)?;
        }
        for n in first..(first + PRODUCTS_PER_COPY).min(products) {
            let id = product_id(n);
            for (sequence, event) in catalog.history(n).iter().enumerate() {
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

/// Words in the search catalog's vocabulary: about 3 in 4,000 names hold any one of them.
pub const VOCABULARY: usize = 4_000;
/// The search catalog's categories.
pub const CATEGORIES: [&str; 20] = [
    "t-shirts",
    "polo-shirts",
    "shirts",
    "blouses",
    "sweaters",
    "hoodies",
    "jackets",
    "coats",
    "vests",
    "tunics",
    "tank-tops",
    "cardigans",
    "fleeces",
    "jerseys",
    "kaftans",
    "ponchos",
    "smocks",
    "tabards",
    "overshirts",
    "workwear",
];
/// The shirts' colours and sizes, the master variant's attributes.
pub const COLOURS: [&str; 8] = [
    "black", "white", "grey", "navy", "red", "green", "yellow", "pink",
];
pub const SIZES: [&str; 5] = ["XS", "S", "M", "L", "XL"];
/// Brands, the shirts' product-level enum.
pub const BRANDS: usize = 50;

/// The words of the descriptions' two sentences: never in the vocabulary, so that a word of
/// it is held by the names that drew it and no others.
const DESCRIPTION_WORDS: [&str; 13] = [
    "the",
    "is",
    "made",
    "to",
    "last",
    "and",
    "easy",
    "care",
    "for",
    "das",
    "ist",
    "langlebig",
    "und",
];

/// Pseudo-words of two to four syllables (4 to 16 letters), [`VOCABULARY`] of them, always
/// the same: the words of the search catalog's names.
pub fn vocabulary() -> Vec<String> {
    const ONSETS: [&str; 20] = [
        "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr",
        "st", "gr",
    ];
    const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ou"];
    const CODAS: [&str; 6] = ["", "", "n", "r", "l", "s"];
    let mut rng = fastrand::Rng::with_seed(0x5ea2c4);
    let mut seen = HashSet::new();
    let mut words = Vec::with_capacity(VOCABULARY);
    while words.len() < VOCABULARY {
        let syllables = match rng.u8(..10) {
            0..=3 => 2,
            4..=7 => 3,
            _ => 4,
        };
        let mut word = String::new();
        for _ in 0..syllables {
            word.push_str(ONSETS[rng.usize(..ONSETS.len())]);
            word.push_str(VOWELS[rng.usize(..VOWELS.len())]);
            word.push_str(CODAS[rng.usize(..CODAS.len())]);
        }
        if !DESCRIPTION_WORDS.contains(&word.as_str()) && seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// Brand `b`: a capitalised pseudo-word of its own, apart from the vocabulary's (`Kalo`).
pub fn brand(b: usize) -> String {
    const SYLLABLES: [&str; 10] = ["ka", "lo", "vi", "ne", "su", "ra", "to", "me", "di", "po"];
    capitalised(&format!("{}{}", SYLLABLES[b % 10], SYLLABLES[b / 10 % 10]))
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Search product `n`'s name: three words of the vocabulary, drawn by its number.
pub fn shirt_name(n: usize, vocabulary: &[String]) -> String {
    let mut rng = fastrand::Rng::with_seed(n as u64);
    (0..3)
        .map(|i| {
            let word = &vocabulary[rng.usize(..vocabulary.len())];
            if i == 0 {
                capitalised(word)
            } else {
                word.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Search product `n`: created a draft shirt, named from the vocabulary, every other one with a
/// description in English and German; every third then published.
fn shirt(n: usize, vocabulary: &[String]) -> Vec<ProductEvent> {
    let name = shirt_name(n, vocabulary);
    let mut rng = fastrand::Rng::with_seed(!(n as u64));
    let mut details = Details::named(name.clone());
    if n.is_multiple_of(2) {
        details.description = Some(LocalizedText::from_map(BTreeMap::from([
            (
                "en".to_string(),
                format!("The {name} is made to last and easy to care for."),
            ),
            (
                "de".to_string(),
                format!("Das {name} ist langlebig und pflegeleicht."),
            ),
        ])));
    }
    details.category = Some(CATEGORIES[rng.usize(..CATEGORIES.len())].to_string());
    details.attributes = BTreeMap::from([
        (
            "brand".to_string(),
            AttributeValue::from(brand(rng.usize(..BRANDS)).as_str()),
        ),
        (
            "organic".to_string(),
            AttributeValue::Boolean(rng.u8(..4) == 0),
        ),
        (
            "weight".to_string(),
            AttributeValue::Number((120 + rng.u32(..300)).into()),
        ),
    ]);
    let variant_attributes = BTreeMap::from([
        (
            "colour".to_string(),
            AttributeValue::from(COLOURS[rng.usize(..COLOURS.len())]),
        ),
        (
            "size".to_string(),
            AttributeValue::from(SIZES[rng.usize(..SIZES.len())]),
        ),
    ]);
    let mut history = vec![ProductEvent::ProductCreated {
        sku: format!("SHIRT-{n}"),
        product_type: Some("shirt".to_string()),
        details,
        price: Money::new(rng.i64(500..20_000), "EUR"),
        stock: rng.i64(0..500),
        variant_attributes,
    }];
    if n.is_multiple_of(3) {
        history.push(ProductEvent::ProductPublished {});
    }
    history
}

/// The type of the search catalog's shirts: every attribute a facet, colour and size the
/// variants'.
fn shirt_type() -> ProductTypeEvent {
    let attribute = |name: &str, kind, level, values: Option<Vec<String>>| AttributeDefinition {
        name: name.to_string(),
        kind,
        required: true,
        values,
        level,
        facet: true,
    };
    let strings = |values: &[&str]| Some(values.iter().map(ToString::to_string).collect());
    ProductTypeEvent::ProductTypeCreated {
        key: "shirt".to_string(),
        name: "Shirt".to_string(),
        attributes: vec![
            attribute(
                "brand",
                AttributeKind::Enum,
                Level::Product,
                Some((0..BRANDS).map(brand).collect()),
            ),
            attribute("organic", AttributeKind::Boolean, Level::Product, None),
            attribute("weight", AttributeKind::Number, Level::Product, None),
            attribute(
                "colour",
                AttributeKind::Enum,
                Level::Variant,
                strings(&COLOURS),
            ),
            attribute("size", AttributeKind::Enum, Level::Variant, strings(&SIZES)),
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
