//! Variants and price lists (Catalog 2, part 2): the rules of each command on them, what their
//! events fold into, the price a read selects, and what history lists.

use catalog_domain::prices::Selection;
use catalog_domain::{
    AddVariant, Attributes, Context, Locale, Money, Price, Product, ProductCommand, ProductError,
    ProductEvent, ProductType, ProductTypeEvent, ProductView, Wanted, MASTER, MAX_VARIANTS,
};
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::Aggregate;
use serde_json::json;

static ENGLISH: std::sync::LazyLock<Locale> = std::sync::LazyLock::new(Locale::default);

fn eur(amount: i64) -> Money {
    Money::new(amount, "EUR")
}

fn attrs(value: serde_json::Value) -> Attributes {
    serde_json::from_value(value).expect("attributes")
}

fn prices(value: serde_json::Value) -> Vec<Price> {
    serde_json::from_value(value).expect("prices")
}

fn day(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, 0, 0, 0).unwrap()
}

/// A shirt type: `size` and `colour` per variant, `size` required of every variant but the
/// master.
fn shirt_type() -> ProductType {
    let mut shirt = ProductType::default();
    shirt.apply(ProductTypeEvent::ProductTypeCreated {
        key: "shirt".into(),
        name: "Shirt".into(),
        attributes: serde_json::from_value(json!([
            {"name": "size", "type": "enum", "values": ["S", "M", "L"], "level": "variant",
             "required": true},
            {"name": "colour", "type": "text", "level": "variant"},
            {"name": "material", "type": "text"}
        ]))
        .unwrap(),
    });
    shirt
}

fn created(product_type: Option<&str>) -> ProductEvent {
    ProductEvent::ProductCreated {
        sku: "SHIRT".into(),
        product_type: product_type.map(str::to_string),
        details: catalog_domain::Details::named("Shirt"),
        price: eur(1999),
        stock: 5,
        variant_attributes: Attributes::new(),
    }
}

fn added(id: &str, sku: &str, attributes: serde_json::Value, stock: i64) -> ProductEvent {
    ProductEvent::VariantAdded {
        variant_id: id.into(),
        sku: sku.into(),
        attributes: attrs(attributes),
        prices: vec![],
        stock,
    }
}

fn add(id: &str, sku: &str, attributes: serde_json::Value) -> ProductCommand {
    ProductCommand::AddVariant(AddVariant {
        variant_id: id.into(),
        sku: sku.into(),
        attributes: attrs(attributes),
        prices: vec![],
        stock: 0,
    })
}

fn decide_typed(
    events: &[ProductEvent],
    command: ProductCommand,
    product_type: Option<&ProductType>,
) -> Result<Vec<ProductEvent>, ProductError> {
    let context = Context {
        product_type,
        default_locale: &ENGLISH,
    };
    Product::replay(events).decide(command, context)
}

fn decide(
    events: &[ProductEvent],
    command: ProductCommand,
) -> Result<Vec<ProductEvent>, ProductError> {
    decide_typed(events, command, None)
}

fn invalid(result: Result<Vec<ProductEvent>, ProductError>) -> Vec<String> {
    match result {
        Err(ProductError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Variants
// ---------------------------------------------------------------------------------------------

#[test]
fn a_product_is_created_with_its_master_holding_v1s_sku_price_and_stock() {
    let product = Product::replay(&[created(None)]);
    let master = product.master().expect("a master");
    assert_eq!(master.id, MASTER);
    assert_eq!((master.sku.as_str(), master.stock), ("SHIRT", 5));
    assert_eq!(master.prices, [Price::base(eur(1999))]);
    assert_eq!(product.price(), Some(&eur(1999)));
}

#[test]
fn a_variant_is_added_with_its_own_sku_attributes_prices_and_stock() {
    let command = ProductCommand::AddVariant(AddVariant {
        variant_id: "v1".into(),
        sku: "SHIRT-L".into(),
        attributes: attrs(json!({"size": "L"})),
        prices: prices(json!([{"amount": 2199, "currency": "EUR"}])),
        stock: 3,
    });
    let events = decide(&[created(None)], command).unwrap();
    assert_eq!(
        events,
        [ProductEvent::VariantAdded {
            variant_id: "v1".into(),
            sku: "SHIRT-L".into(),
            attributes: attrs(json!({"size": "L"})),
            prices: vec![Price::base(eur(2199))],
            stock: 3,
        }]
    );
    let product = Product::replay(&[created(None), events[0].clone()]);
    assert_eq!(product.skus().collect::<Vec<_>>(), ["SHIRT", "SHIRT-L"]);
    assert_eq!(product.variant("v1").unwrap().stock, 3);
}

#[test]
fn a_variant_with_bad_values_is_refused_naming_each_field() {
    let command = ProductCommand::AddVariant(AddVariant {
        variant_id: "v1".into(),
        sku: "no spaces".into(),
        attributes: attrs(json!({"": "x"})),
        prices: prices(json!([{"amount": -1, "currency": "XXQ"}])),
        stock: -1,
    });
    assert_eq!(
        invalid(decide(&[created(None)], command)),
        [
            "sku",
            "attributes.",
            "prices[0].amount",
            "prices[0].currency",
            "stock"
        ]
    );
}

#[test]
fn two_variants_may_not_share_their_variant_attribute_values() {
    let history = [
        created(None),
        added("v1", "SHIRT-L", json!({"size": "L"}), 0),
    ];
    assert_eq!(
        decide(&history, add("v2", "SHIRT-L2", json!({"size": "L"}))),
        Err(ProductError::DuplicateVariant {
            variant_id: "v1".into()
        })
    );
    // A change to another variant's values is refused as well; to its own, it is no change
    let history = [
        history[0].clone(),
        history[1].clone(),
        added("v2", "SHIRT-M", json!({"size": "M"}), 0),
    ];
    let change = |id: &str, size: &str| ProductCommand::ChangeVariant {
        variant_id: id.into(),
        attributes: attrs(json!({ "size": size })),
    };
    assert_eq!(
        decide(&history, change("v2", "L")),
        Err(ProductError::DuplicateVariant {
            variant_id: "v1".into()
        })
    );
    assert_eq!(decide(&history, change("v2", "M")), Ok(vec![]));
    // Variants without variant attributes are told apart by their SKUs alone
    assert!(decide(&history, add("v3", "SHIRT-PLAIN", json!({}))).is_ok());
}

#[test]
fn a_sku_the_product_holds_already_is_taken() {
    let history = [
        created(None),
        added("v1", "SHIRT-L", json!({"size": "L"}), 0),
    ];
    for sku in ["SHIRT", "SHIRT-L"] {
        assert_eq!(
            decide(&history, add("v2", sku, json!({"size": "M"}))),
            Err(ProductError::SkuTaken(sku.into()))
        );
    }
}

#[test]
fn a_product_holds_at_most_its_master_and_a_hundred_variants() {
    let mut history = vec![created(None)];
    for n in 0..MAX_VARIANTS {
        history.push(added(
            &format!("v{n}"),
            &format!("S-{n}"),
            json!({ "n": n.to_string() }),
            0,
        ));
    }
    assert_eq!(
        decide(&history, add("one-more", "S-X", json!({"n": "x"}))),
        Err(ProductError::TooManyVariants {
            limit: MAX_VARIANTS
        })
    );
    // One removed, there is room again
    history.push(ProductEvent::VariantRemoved {
        variant_id: "v0".into(),
        sku: "S-0".into(),
    });
    assert!(decide(&history, add("one-more", "S-X", json!({"n": "x"}))).is_ok());
}

#[test]
fn the_master_cannot_be_removed_and_an_unknown_variant_is_not_found() {
    let history = [
        created(None),
        added("v1", "SHIRT-L", json!({"size": "L"}), 0),
    ];
    let remove = |id: &str| ProductCommand::RemoveVariant {
        variant_id: id.into(),
    };
    assert_eq!(
        decide(&history, remove(MASTER)),
        Err(ProductError::MasterVariant)
    );
    assert_eq!(
        decide(&history, remove("nope")),
        Err(ProductError::VariantNotFound)
    );
    let events = decide(&history, remove("v1")).unwrap();
    assert_eq!(
        events,
        [ProductEvent::VariantRemoved {
            variant_id: "v1".into(),
            sku: "SHIRT-L".into()
        }]
    );
    let mut after = history.to_vec();
    after.extend(events);
    assert_eq!(
        decide(&after, remove("v1")),
        Err(ProductError::VariantNotFound)
    );
    // Its SKU and its values are free again within the product
    assert!(decide(&after, add("v2", "SHIRT-L", json!({"size": "L"}))).is_ok());
}

#[test]
fn each_variant_keeps_its_own_stock_under_v1s_rules() {
    let history = [
        created(None),
        added("v1", "SHIRT-L", json!({"size": "L"}), 2),
    ];
    let adjust = |id: &str, delta| ProductCommand::AdjustStock {
        variant_id: id.into(),
        delta,
        reason: "sale".into(),
    };
    // The master's stock moves as v1 recorded it
    assert_eq!(
        decide(&history, adjust(MASTER, -5)),
        Ok(vec![ProductEvent::StockAdjusted {
            delta: -5,
            reason: "sale".into(),
            stock: 0
        }])
    );
    assert_eq!(
        decide(&history, adjust("v1", -2)),
        Ok(vec![ProductEvent::VariantStockAdjusted {
            variant_id: "v1".into(),
            delta: -2,
            reason: "sale".into(),
            stock: 0
        }])
    );
    // Never below zero: the variant's own stock counts, not the master's
    assert_eq!(
        decide(&history, adjust("v1", -3)),
        Err(ProductError::InsufficientStock {
            available: 2,
            delta: -3
        })
    );
    assert_eq!(
        decide(&history, adjust("v9", 1)),
        Err(ProductError::VariantNotFound)
    );
    assert_eq!(invalid(decide(&history, adjust("v1", 0))), ["delta"]);
}

#[test]
fn a_typed_products_variants_hold_the_types_variant_attributes() {
    let shirt = shirt_type();
    let history = [created(Some("shirt"))];
    let with_type = |command| decide_typed(&history, command, Some(&shirt));
    // Every variant but the master needs its size; product attributes are not a variant's
    assert_eq!(
        invalid(with_type(add(
            "v1",
            "S-1",
            json!({"colour": "red", "material": "silk"})
        ))),
        ["attributes.material", "attributes.size"]
    );
    assert!(with_type(add("v1", "S-1", json!({"size": "M", "colour": "red"}))).is_ok());
    // Without the type's definition at hand a typed variant cannot be checked
    assert_eq!(
        decide(&history, add("v1", "S-1", json!({"size": "M"}))),
        Err(ProductError::TypeUnavailable("shirt".into()))
    );
    // The master's variant attributes are optional, but checked when given
    let master = |attributes| ProductCommand::ChangeVariant {
        variant_id: MASTER.into(),
        attributes: attrs(attributes),
    };
    assert_eq!(with_type(master(json!({}))), Ok(vec![]));
    assert_eq!(
        invalid(with_type(master(json!({"size": "XL"})))),
        ["attributes.size"]
    );
}

#[test]
fn an_untyped_products_variant_attributes_are_strings() {
    assert_eq!(
        decide(&[created(None)], add("v1", "S-1", json!({"size": 42}))),
        Err(ProductError::WrongType {
            field: "attributes.size".into()
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Price lists
// ---------------------------------------------------------------------------------------------

fn set_prices(id: &str, list: serde_json::Value) -> ProductCommand {
    ProductCommand::SetPrices {
        variant_id: id.into(),
        prices: prices(list),
    }
}

#[test]
fn a_price_list_keeps_its_rules_and_the_master_keeps_its_base_price_first() {
    let history = [
        created(None),
        added("v1", "SHIRT-L", json!({"size": "L"}), 0),
    ];
    // Overlapping windows, a window that ends before it starts, an unknown currency
    assert_eq!(
        invalid(decide(
            &history,
            set_prices(
                "v1",
                json!([
                    {"amount": 900, "currency": "EUR", "valid_from": "2026-12-01T00:00:00Z",
                     "valid_until": "2026-12-10T00:00:00Z"},
                    {"amount": 800, "currency": "EUR", "valid_from": "2026-12-09T00:00:00Z"},
                    {"amount": 700, "currency": "EUR", "valid_from": "2026-12-20T00:00:00Z",
                     "valid_until": "2026-12-20T00:00:00Z"},
                    {"amount": 700, "currency": "ABC"}
                ])
            )
        )),
        ["prices[1]", "prices[2].valid_from", "prices[3].currency"]
    );
    // Another variant's list may be empty or dated only; the master's starts with its base
    assert!(decide(&history, set_prices("v1", json!([]))).is_ok());
    assert_eq!(
        invalid(decide(&history, set_prices(MASTER, json!([])))),
        ["prices"]
    );
    assert_eq!(
        invalid(decide(
            &history,
            set_prices(
                MASTER,
                json!([{"amount": 1, "currency": "EUR", "channel": "web"}])
            )
        )),
        ["prices"]
    );
    assert_eq!(
        decide(&history, set_prices("v9", json!([]))),
        Err(ProductError::VariantNotFound)
    );
    // The same list again is no change
    assert_eq!(
        decide(
            &history,
            set_prices(MASTER, json!([{"amount": 1999, "currency": "EUR"}]))
        ),
        Ok(vec![])
    );
}

#[test]
fn v1s_price_change_replaces_that_currencys_undated_price_and_keeps_the_rest() {
    let sale = json!({"amount": 1499, "currency": "EUR", "valid_from": "2026-12-05T00:00:00Z"});
    let b2b = json!({"amount": 1799, "currency": "EUR", "channel": "b2b"});
    let list = json!([{"amount": 1999, "currency": "EUR"}, sale, b2b]);
    let mut history = vec![created(None)];
    history.extend(decide(&history, set_prices(MASTER, list)).unwrap());
    // In the first price's currency: v1's event, v1's meaning
    let events = decide(&history, ProductCommand::ChangePrice(eur(2099))).unwrap();
    assert_eq!(
        events,
        [ProductEvent::PriceChanged {
            price: eur(2099),
            previous: eur(1999)
        }]
    );
    history.extend(events);
    let master = Product::replay(&history).master().unwrap().clone();
    assert_eq!(
        master.prices,
        prices(json!([{"amount": 2099, "currency": "EUR"}, sale, b2b]))
    );
    // In another currency: it comes first, so a read without currency serves it, as in v1
    history.extend(
        decide(
            &history,
            ProductCommand::ChangePrice(Money::new(2500, "USD")),
        )
        .unwrap(),
    );
    let product = Product::replay(&history);
    assert_eq!(product.price(), Some(&Money::new(2500, "USD")));
    assert_eq!(product.master().unwrap().prices.len(), 4);
}

fn view(events: &[ProductEvent]) -> ProductView {
    let at = day(1);
    ProductView::of(
        "p-1",
        &Product::replay(events),
        events.len() as u64,
        at,
        at,
        &Wanted::default_only(Locale::default()),
    )
    .expect("a view")
}

fn selected(
    view: &ProductView,
    currency: Option<&str>,
    channel: Option<&str>,
    at: DateTime<Utc>,
) -> Vec<Option<i64>> {
    let mut view = view.clone();
    view.select_prices(&Selection {
        currency: currency.map(str::to_string),
        channel: channel.map(str::to_string),
        at: Some(at),
    });
    let mut amounts = vec![view.price.as_ref().map(|p| p.amount)];
    amounts.extend(
        view.variants
            .iter()
            .map(|v| v.price.as_ref().map(|p| p.amount)),
    );
    amounts
}

#[test]
fn every_read_selects_each_variants_price_by_currency_channel_and_instant() {
    let master = json!([
        {"amount": 1000, "currency": "EUR"},
        {"amount": 800, "currency": "EUR", "valid_from": "2026-12-05T00:00:00Z",
         "valid_until": "2026-12-08T00:00:00Z"},
        {"amount": 900, "currency": "EUR", "channel": "b2b"},
        {"amount": 1200, "currency": "USD"}
    ]);
    let mut history = vec![
        created(None),
        added("v1", "SHIRT-L", json!({"size": "L"}), 0),
    ];
    for (id, list) in [
        (MASTER, master),
        ("v1", json!([{"amount": 1100, "currency": "USD"}])),
    ] {
        history.extend(decide(&history, set_prices(id, list)).unwrap());
    }
    let view = view(&history);
    // Stored: the undated prices of the first price's currency, whenever it was projected
    assert_eq!(view.price, Some(eur(1000)));
    assert_eq!(view.variants[1].price, None);
    // The top-level price is the master's; a variant without a price in the currency has none
    assert_eq!(
        selected(&view, None, None, day(4)),
        [Some(1000), Some(1000), None]
    );
    // The sale, from its first instant until (not including) its last
    let second = chrono::Duration::seconds(1);
    assert_eq!(selected(&view, None, None, day(5) - second)[0], Some(1000));
    assert_eq!(selected(&view, None, None, day(5))[0], Some(800));
    assert_eq!(selected(&view, None, None, day(8) - second)[0], Some(800));
    assert_eq!(selected(&view, None, None, day(8))[0], Some(1000));
    // A channel's prices win; a channel without prices falls back to every channel's
    assert_eq!(selected(&view, None, Some("b2b"), day(6))[0], Some(900));
    assert_eq!(selected(&view, None, Some("web"), day(6))[0], Some(800));
    // Another currency
    assert_eq!(
        selected(&view, Some("USD"), None, day(6)),
        [Some(1200), Some(1200), Some(1100)]
    );
    assert_eq!(
        selected(&view, Some("CHF"), None, day(6)),
        [None, None, None]
    );
}

#[test]
fn a_document_stored_before_variants_keeps_its_one_price() {
    let mut view = view(&[created(None)]);
    view.variants.clear();
    let mut usd = view.clone();
    usd.select_prices(&Selection {
        currency: Some("USD".into()),
        ..Selection::now()
    });
    assert_eq!(usd.price, None);
    view.select_prices(&Selection::now());
    assert_eq!(view.price, Some(eur(1999)));
}

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

#[test]
fn history_lists_a_variant_whole_and_the_masters_list_beyond_its_base_price() {
    let mut product = Product::replay(&[created(None)]);
    let fields = |changes: Vec<catalog_domain::FieldChange>| -> Vec<String> {
        changes.into_iter().map(|c| c.field).collect()
    };
    assert_eq!(
        fields(product.apply_and_diff(added("v1", "SHIRT-L", json!({"size": "L"}), 2))),
        ["variants.v1"]
    );
    assert_eq!(
        fields(product.apply_and_diff(ProductEvent::PriceChanged {
            price: eur(2099),
            previous: eur(1999)
        })),
        ["price"]
    );
    let changes = product.apply_and_diff(ProductEvent::PricesSet {
        variant_id: MASTER.into(),
        prices: prices(json!([{"amount": 2099, "currency": "EUR"}, {"amount": 99, "currency": "EUR", "channel": "b2b"}])),
    });
    assert_eq!(fields(changes.clone()), ["prices"]);
    assert_eq!(changes[0].from, serde_json::Value::Null);
    let removal = product.apply_and_diff(ProductEvent::VariantRemoved {
        variant_id: "v1".into(),
        sku: "SHIRT-L".into(),
    });
    assert_eq!(removal[0].field, "variants.v1");
    assert_eq!(removal[0].to, serde_json::Value::Null);
    assert_eq!(removal[0].from["stock"], 2);
}
