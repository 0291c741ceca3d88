//! Import lines: a whole product turned into the events of what differs, by the rules of the
//! single commands.

use catalog_domain::{
    Attributes, Context, ImportProduct, ImportVariant, Locale, Money, Price, Product,
    ProductCommand, ProductError, ProductEvent, ProductStatus, IMPORT_REASON, MASTER,
};
use cqrs_es::Aggregate;
use serde_json::json;

static ENGLISH: std::sync::LazyLock<Locale> = std::sync::LazyLock::new(Locale::default);

fn context() -> Context<'static> {
    Context {
        product_type: None,
        default_locale: &ENGLISH,
    }
}

fn attrs(value: serde_json::Value) -> Attributes {
    serde_json::from_value(value).expect("attributes")
}

fn variant(sku: &str, stock: Option<i64>) -> ImportVariant {
    ImportVariant {
        new_id: format!("id-{sku}"),
        sku: sku.into(),
        // Variants differ by their attributes: the size is the SKU's last part.
        attributes: Some(attrs(json!({"size": sku.rsplit('-').next()}))),
        prices: Some(vec![Price::base(Money::new(2500, "EUR"))]),
        stock,
    }
}

/// A shirt with two variants besides its master.
fn line() -> ImportProduct {
    ImportProduct {
        sku: "SHIRT".into(),
        product_type: None,
        name: "Shirt".into(),
        description: Some("Cotton".into()),
        category: Some("tops".into()),
        attributes: Some(attrs(json!({"material": "cotton"}))),
        price: Money::new(1999, "EUR"),
        stock: Some(7),
        variant_attributes: None,
        variants: vec![variant("SHIRT-M", Some(3)), variant("SHIRT-L", None)],
    }
}

fn import(product: &Product, line: ImportProduct) -> Result<Vec<ProductEvent>, ProductError> {
    product.decide(ProductCommand::Import(line), context())
}

fn applied(mut product: Product, events: &[ProductEvent]) -> Product {
    for event in events {
        product.apply(event.clone());
    }
    product
}

fn types(events: &[ProductEvent]) -> Vec<&'static str> {
    events.iter().map(ProductEvent::type_name).collect()
}

#[test]
fn a_new_product_is_created_with_its_variants_in_one_decision() {
    let events = import(&Product::default(), line()).unwrap();
    assert_eq!(
        types(&events),
        ["ProductCreated", "VariantAdded", "VariantAdded"]
    );
    let product = applied(Product::default(), &events);
    assert_eq!(product.sku(), "SHIRT");
    assert_eq!(product.stock(), 7);
    assert_eq!(product.status, Some(ProductStatus::Draft));
    let skus: Vec<&str> = product.skus().collect();
    assert_eq!(skus, ["SHIRT", "SHIRT-M", "SHIRT-L"]);
    assert_eq!(product.variants[1].id, "id-SHIRT-M");
    assert_eq!(product.variants[1].stock, 3);
    assert_eq!(product.variants[2].stock, 0, "a stock left out starts at 0");
}

#[test]
fn the_same_line_again_changes_nothing() {
    let product = applied(
        Product::default(),
        &import(&Product::default(), line()).unwrap(),
    );
    assert_eq!(import(&product, line()).unwrap(), vec![]);
}

#[test]
fn an_existing_product_gets_the_events_of_what_differs() {
    let product = applied(
        Product::default(),
        &import(&Product::default(), line()).unwrap(),
    );
    let mut changed = line();
    changed.name = "Shirt, organic".into();
    changed.price = Money::new(2199, "EUR");
    changed.stock = Some(4);
    changed.variants[0].stock = Some(10);
    changed.variants[1].prices = Some(vec![Price::base(Money::new(2600, "EUR"))]);
    changed.variants.push(variant("SHIRT-XL", Some(1)));
    let events = import(&product, changed).unwrap();
    assert_eq!(
        types(&events),
        [
            "DetailsUpdated",
            "PriceChanged",
            "StockAdjusted",
            "VariantStockAdjusted",
            "PricesSet",
            "VariantAdded"
        ]
    );
    match &events[2] {
        ProductEvent::StockAdjusted {
            delta,
            reason,
            stock,
        } => assert_eq!((*delta, reason.as_str(), *stock), (-3, IMPORT_REASON, 4)),
        other => panic!("not a stock adjustment: {other:?}"),
    }
    let after = applied(product, &events);
    assert_eq!(after.variants[1].stock, 10);
    assert_eq!(after.variants.len(), 4);
}

#[test]
fn fields_left_out_and_variants_not_named_are_kept() {
    let product = applied(
        Product::default(),
        &import(&Product::default(), line()).unwrap(),
    );
    let sparse = ImportProduct {
        description: None,
        category: None,
        attributes: None,
        stock: None,
        variants: vec![],
        ..line()
    };
    assert_eq!(import(&product, sparse).unwrap(), vec![]);
}

#[test]
fn a_broken_rule_refuses_the_whole_line_naming_the_field_where_it_is() {
    let mut bad = line();
    bad.variants[1].sku = "not a sku!".into();
    match import(&Product::default(), bad) {
        Err(ProductError::Invalid(fields)) => {
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, ["variants[1].sku"]);
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let mut negative = line();
    negative.variants[0].stock = Some(-1);
    let product = applied(
        Product::default(),
        &import(&Product::default(), line()).unwrap(),
    );
    match import(&product, negative) {
        Err(ProductError::Invalid(fields)) => assert_eq!(fields[0].field, "variants[0].stock"),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn an_archived_product_or_another_type_is_refused() {
    let product = applied(
        Product::default(),
        &import(&Product::default(), line()).unwrap(),
    );
    let mut typed = line();
    typed.product_type = Some("shirt".into());
    match import(&product, typed) {
        Err(ProductError::Invalid(fields)) => assert_eq!(fields[0].field, "type"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let archived = applied(
        product,
        &[ProductEvent::ProductArchived {
            sku: "SHIRT".into(),
        }],
    );
    assert_eq!(import(&archived, line()), Err(ProductError::Archived));
}

#[test]
fn the_master_named_as_a_variant_is_the_master() {
    let product = applied(
        Product::default(),
        &import(&Product::default(), line()).unwrap(),
    );
    let mut line = line();
    line.variants = vec![ImportVariant {
        stock: Some(9),
        attributes: None,
        prices: None,
        ..variant("SHIRT", None)
    }];
    let events = import(&product, line).unwrap();
    assert_eq!(types(&events), ["StockAdjusted"]);
    assert_eq!(applied(product, &events).variants[0].id, MASTER);
}
