//! A product's whole life as version 1 of the event shapes stored it: one of every event type,
//! captured from the event store (`events` rows: type, version and payload as PostgreSQL
//! returns them). Stored events are never rewritten, so however the shapes evolve, this stream
//! must keep decoding and replaying into the same product; a shape change that breaks it needs
//! an upcaster for version 1.

use std::collections::BTreeSet;

use catalog_domain::{
    AttributeValue, ImageStatus, Locale, Product, ProductEvent, ProductStatus, Schema,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct StoredRow {
    sequence: u64,
    event_type: String,
    event_version: String,
    payload: Value,
}

fn stored() -> Vec<StoredRow> {
    serde_json::from_str(include_str!("fixtures/v1-product-stream.json"))
        .expect("the fixture is a JSON array of stored rows")
}

/// The stream as an installation whose default locale is `default_locale` reads it, through
/// the schema's upcasters like every reader of the event store.
fn decoded(default_locale: &str) -> Vec<ProductEvent> {
    let schema = Schema::new(Locale::parse(default_locale).unwrap());
    stored()
        .into_iter()
        .map(|row| {
            let event = schema
                .decode_product(&row.event_type, &row.event_version, row.payload)
                .unwrap_or_else(|err| {
                    panic!(
                        "event {} ({}) no longer decodes: {err}",
                        row.sequence, row.event_type
                    )
                });
            assert_eq!(event.type_name(), row.event_type, "event {}", row.sequence);
            event
        })
        .collect()
}

#[test]
fn the_fixture_holds_one_of_every_event_type_at_version_1() {
    let rows = stored();
    let sequences: Vec<u64> = rows.iter().map(|row| row.sequence).collect();
    assert_eq!(sequences, (1..=rows.len() as u64).collect::<Vec<_>>());
    assert!(rows.iter().all(|row| row.event_version == "1"));
    let types: BTreeSet<&str> = rows.iter().map(|row| row.event_type.as_str()).collect();
    let expected: BTreeSet<&str> = [
        "ProductCreated",
        "DetailsUpdated",
        "PriceChanged",
        "StockAdjusted",
        "ProductPublished",
        "ProductUnpublished",
        "ProductArchived",
        "ImageAttached",
        "ImageRemoved",
        "ImageProcessed",
        "ImageProcessingFailed",
    ]
    .into_iter()
    .collect();
    assert_eq!(types, expected);
}

#[test]
fn a_stored_version_1_stream_replays_into_the_product_it_recorded() {
    let product = Product::replay(&decoded("en"));

    assert_eq!(product.status, Some(ProductStatus::Archived));
    assert_eq!(product.sku(), "FIXTURE-V1-1796220870");
    assert_eq!(product.product_type, None, "v1 products are untyped");
    // v1's plain texts are the default locale's
    let name: Vec<(&String, &String)> = product.details.name.texts().iter().collect();
    assert_eq!(
        name,
        [(&"en".to_string(), &"Café ☕ mug, large".to_string())]
    );
    assert_eq!(product.details.description, None, "cleared by the update");
    assert_eq!(product.details.category.as_deref(), Some("kitchen"));
    assert_eq!(
        product.details.attributes.get("colour"),
        Some(&AttributeValue::Text("blue".into()))
    );
    assert!(
        !product.details.attributes.contains_key("volume_ml"),
        "the update replaced the attributes"
    );
    let price = product.price().expect("a price");
    assert_eq!((price.amount, price.currency.as_str()), (1499, "EUR"));
    assert_eq!(product.stock(), 3, "5, then a sale of 2");

    // Two uploads: one rendered, one that failed and was removed.
    assert_eq!(product.images.len(), 1);
    let image = &product.images[0];
    assert_eq!(image.id, "01a2371b-7832-7289-a5c4-df58f7e5cf07");
    assert_eq!(image.status, ImageStatus::Ready);
    assert_eq!((image.width, image.height), (Some(1280), Some(900)));
    let names: Vec<&str> = image.renditions.keys().map(String::as_str).collect();
    assert_eq!(names, ["large", "medium", "small", "thumb"]);
    assert_eq!(
        (
            image.renditions["thumb"].width,
            image.renditions["thumb"].height
        ),
        (160, 113)
    );
}

#[test]
fn v1_texts_are_in_the_installation_s_default_locale() {
    // Given the v1 stream, read by an installation whose default locale is German
    let product = Product::replay(&decoded("de-CH"));
    // Then the texts v1 stored as plain strings are German texts, and nothing else changed
    assert_eq!(
        product.details.name.texts().keys().collect::<Vec<_>>(),
        ["de-CH"]
    );
    let mut english = Product::replay(&decoded("en"));
    english.details.name = product.details.name.clone();
    assert_eq!(english, product);
}
