//! Unit tests of the Product aggregate, written against the crate's public API and the rules of
//! the HTTP contract (`docs/API.md`): given past events, when a command arrives, then these
//! events are recorded or this refusal is returned.

use std::collections::BTreeMap;

use catalog_domain::{
    AttachImage, AttributeValue, Attributes, Context, CreateProduct, Details, ImageOriginal,
    ImageStatus, Locale, LocalizedText, Money, Price, Product, ProductCommand, ProductError,
    ProductEvent, ProductStatus, RecordImageProcessed, Rendition, TextInput, UpdateDetails, MASTER,
    MAX_IMAGES, RENDITION_NAMES,
};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};

const SKU: &str = "TSHIRT-red.M_1";

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

fn given(events: Vec<ProductEvent>) -> AggregateTestExecutor<Product> {
    TestFramework::<Product>::with(()).given(events)
}

fn given_nothing() -> AggregateTestExecutor<Product> {
    TestFramework::<Product>::with(()).given_no_previous_events()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, "EUR")
}

fn attributes(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::Text(v.to_string())))
        .collect()
}

/// `text` in English, the default locale of these tests.
fn en(text: impl Into<String>) -> LocalizedText {
    LocalizedText::single(&Locale::default(), text)
}

/// A text as a v1 client sends it (a plain string) when it is in English alone, else per
/// locale.
fn as_sent(text: LocalizedText) -> TextInput {
    match text.texts().get("en") {
        Some(english) if text.texts().len() == 1 => TextInput::Plain(english.clone()),
        _ => TextInput::Localized(text),
    }
}

/// What these tests decide in: no product type, English as the default locale.
fn context() -> Context<'static> {
    static ENGLISH: std::sync::LazyLock<Locale> = std::sync::LazyLock::new(Locale::default);
    Context {
        product_type: None,
        default_locale: &ENGLISH,
    }
}

/// A create as the tests write it: the details as they will be stored.
struct NewProduct {
    sku: String,
    details: Details,
    price: Money,
    stock: i64,
}

fn details() -> Details {
    let mut details = Details::named("Red T-shirt");
    details.description = Some(en("100% cotton"));
    details.category = Some("apparel".into());
    details.attributes = attributes(&[("color", "red"), ("size", "M")]);
    details
}

fn create_command() -> NewProduct {
    NewProduct {
        sku: SKU.into(),
        details: details(),
        price: eur(1999),
        stock: 5,
    }
}

fn create(command: NewProduct) -> ProductCommand {
    let Details {
        name,
        description,
        category,
        attributes,
    } = command.details;
    ProductCommand::Create(CreateProduct {
        sku: command.sku,
        product_type: None,
        name: as_sent(name),
        description: description.map(as_sent),
        category,
        attributes,
        price: command.price,
        stock: command.stock,
        variant_attributes: Attributes::new(),
    })
}

fn created() -> ProductEvent {
    ProductEvent::ProductCreated {
        sku: SKU.into(),
        product_type: None,
        details: details(),
        price: eur(1999),
        stock: 5,
        variant_attributes: Default::default(),
    }
}

fn published() -> ProductEvent {
    ProductEvent::ProductPublished {}
}

fn unpublished() -> ProductEvent {
    ProductEvent::ProductUnpublished {}
}

fn archived() -> ProductEvent {
    ProductEvent::ProductArchived { sku: SKU.into() }
}

fn stock_adjusted(delta: i64, stock: i64) -> ProductEvent {
    ProductEvent::StockAdjusted {
        delta,
        reason: "inventory count".into(),
        stock,
    }
}

fn adjust_stock(delta: i64, reason: &str) -> ProductCommand {
    ProductCommand::AdjustStock {
        variant_id: MASTER.into(),
        delta,
        reason: reason.into(),
    }
}

fn update(update: UpdateDetails) -> ProductCommand {
    ProductCommand::UpdateDetails(update)
}

fn original(image_id: &str) -> ImageOriginal {
    ImageOriginal {
        key: format!("originals/{image_id}"),
        content_type: "image/png".into(),
        width: 2400,
        height: 1600,
        bytes: 123_456,
    }
}

fn attach(image_id: &str) -> ProductCommand {
    ProductCommand::AttachImage(AttachImage {
        image_id: image_id.into(),
        original: original(image_id),
    })
}

fn attached(image_id: &str) -> ProductEvent {
    ProductEvent::ImageAttached {
        image_id: image_id.into(),
        original: original(image_id),
    }
}

fn renditions(image_id: &str) -> BTreeMap<String, Rendition> {
    RENDITION_NAMES
        .iter()
        .zip([160, 400, 800, 1600])
        .map(|(name, width)| {
            let rendition = Rendition {
                width,
                height: width * 2 / 3,
                webp_key: format!("renditions/{image_id}/{name}.webp"),
                jpeg_key: format!("renditions/{image_id}/{name}.jpg"),
            };
            (name.to_string(), rendition)
        })
        .collect()
}

fn processed_command(image_id: &str) -> RecordImageProcessed {
    RecordImageProcessed {
        image_id: image_id.into(),
        width: 2400,
        height: 1600,
        blurhash: Some("LEHV6nWB2yk8pyo0adR*.7kCMdnj".into()),
        renditions: renditions(image_id),
    }
}

fn processed(image_id: &str) -> ProductEvent {
    let command = processed_command(image_id);
    ProductEvent::ImageProcessed {
        image_id: command.image_id,
        width: command.width,
        height: command.height,
        blurhash: command.blurhash,
        renditions: command.renditions,
    }
}

fn processing_failed(image_id: &str) -> ProductEvent {
    ProductEvent::ImageProcessingFailed {
        image_id: image_id.into(),
        reason: "decoder error".into(),
    }
}

fn remove(image_id: &str) -> ProductCommand {
    ProductCommand::RemoveImage {
        image_id: image_id.into(),
    }
}

fn removed(image_id: &str, blob_keys: Vec<String>) -> ProductEvent {
    ProductEvent::ImageRemoved {
        image_id: image_id.into(),
        blob_keys,
    }
}

fn record_failed(image_id: &str, reason: &str) -> ProductCommand {
    ProductCommand::RecordImageFailed {
        image_id: image_id.into(),
        reason: reason.into(),
    }
}

/// One command of every kind but Create, each valid against a created product holding image
/// `img-1` in processing.
fn every_command_but_create() -> Vec<ProductCommand> {
    vec![
        update(UpdateDetails {
            name: Some("Blue T-shirt".into()),
            ..UpdateDetails::default()
        }),
        ProductCommand::ChangePrice(eur(2499)),
        adjust_stock(1, "restock"),
        ProductCommand::Publish,
        ProductCommand::Unpublish,
        ProductCommand::Archive,
        attach("img-2"),
        remove("img-1"),
        ProductCommand::RecordImageProcessed(processed_command("img-1")),
        record_failed("img-1", "decoder error"),
    ]
}

/// The sorted field names of an `Invalid` refusal; panics on any other outcome.
fn invalid_fields(
    executor: AggregateTestExecutor<Product>,
    command: ProductCommand,
) -> Vec<String> {
    match executor.when(command).inspect_result() {
        Err(ProductError::Invalid(errors)) => {
            assert!(!errors.is_empty(), "Invalid must name at least one field");
            for error in &errors {
                assert!(!error.message.is_empty(), "{error:?} has no message");
            }
            let mut fields: Vec<String> = errors.into_iter().map(|e| e.field).collect();
            fields.sort();
            fields
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn invalid_create_fields(command: NewProduct) -> Vec<String> {
    invalid_fields(given_nothing(), create(command))
}

fn fields(names: &[&str]) -> Vec<String> {
    let mut fields: Vec<String> = names.iter().map(std::string::ToString::to_string).collect();
    fields.sort();
    fields
}

fn one_of_each_event() -> Vec<ProductEvent> {
    vec![
        created(),
        ProductEvent::DetailsUpdated {
            details: Details {
                description: None,
                ..details()
            },
            changed: vec!["description".into()],
        },
        ProductEvent::PriceChanged {
            price: Money::new(1_000_000_000_000, "USD"),
            previous: eur(1999),
        },
        stock_adjusted(-2, 3),
        published(),
        unpublished(),
        archived(),
        attached("img-1"),
        removed("img-1", vec!["originals/img-1".into()]),
        processed("img-1"),
        processing_failed("img-1"),
        ProductEvent::VariantAdded {
            variant_id: "v-1".into(),
            sku: "TSHIRT-L".into(),
            attributes: attributes(&[("size", "L")]),
            prices: vec![Price::base(eur(2199))],
            stock: 4,
        },
        ProductEvent::VariantAttributesChanged {
            variant_id: "v-1".into(),
            attributes: attributes(&[("size", "XL")]),
        },
        ProductEvent::VariantRemoved {
            variant_id: "v-1".into(),
            sku: "TSHIRT-L".into(),
        },
        ProductEvent::VariantStockAdjusted {
            variant_id: "v-1".into(),
            delta: 2,
            reason: "delivery".into(),
            stock: 6,
        },
        ProductEvent::PricesSet {
            variant_id: MASTER.into(),
            prices: vec![Price::base(eur(1999)), Price::base(Money::new(2099, "USD"))],
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

#[test]
fn creating_a_product_records_its_sku_details_price_and_stock() {
    given_nothing()
        .when(create(create_command()))
        .then_expect_events(vec![created()]);
}

#[test]
fn creating_with_only_the_required_fields_gives_empty_optional_details_and_zero_stock() {
    let command = NewProduct {
        sku: "A".into(),
        details: Details {
            name: en("N"),
            description: None,
            category: None,
            attributes: BTreeMap::new(),
        },
        price: Money::new(0, "JPY"),
        stock: 0,
    };
    given_nothing()
        .when(create(command))
        .then_expect_events(vec![ProductEvent::ProductCreated {
            sku: "A".into(),
            product_type: None,
            details: Details {
                name: en("N"),
                description: None,
                category: None,
                attributes: BTreeMap::new(),
            },
            price: Money::new(0, "JPY"),
            stock: 0,
            variant_attributes: Default::default(),
        }]);
}

#[test]
fn creating_an_existing_product_is_refused() {
    for history in [
        vec![created()],
        vec![created(), published()],
        vec![created(), archived()],
    ] {
        given(history)
            .when(create(create_command()))
            .then_expect_error(ProductError::AlreadyExists);
    }
}

#[test]
fn creating_accepts_every_value_at_the_edge_of_its_rule() {
    let at_edge: BTreeMap<String, String> = (0..49)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .chain([("k".repeat(100), "v".repeat(1000))])
        .collect();
    assert_eq!(at_edge.len(), 50);
    let command = NewProduct {
        sku: format!("{}.-_{}", "A".repeat(30), "9".repeat(31)),
        details: Details {
            // 200 characters, 400 bytes: lengths are counted in characters.
            name: en("é".repeat(200)),
            description: Some(en("d".repeat(5000))),
            category: Some("c".repeat(100)),
            attributes: at_edge
                .into_iter()
                .map(|(k, v)| (k, AttributeValue::Text(v)))
                .collect(),
        },
        price: Money::new(1_000_000_000_000, "EUR"),
        stock: 0,
    };
    assert_eq!(command.sku.len(), 64);
    let result = given_nothing().when(create(command)).inspect_result();
    assert!(
        matches!(result.as_deref(), Ok([ProductEvent::ProductCreated { .. }])),
        "{result:?}"
    );
}

#[test]
fn creating_with_a_sku_outside_the_alphabet_is_refused() {
    for sku in ["has space", "semi;colon", "slash/", "é", "plus+", "star*"] {
        let command = NewProduct {
            sku: sku.into(),
            ..create_command()
        };
        assert_eq!(invalid_create_fields(command), ["sku"], "sku {sku:?}");
    }
}

#[test]
fn creating_with_an_empty_or_over_long_sku_is_refused() {
    for sku in [String::new(), "a".repeat(65)] {
        let command = NewProduct {
            sku: sku.clone(),
            ..create_command()
        };
        assert_eq!(invalid_create_fields(command), ["sku"], "sku {sku:?}");
    }
}

#[test]
fn creating_with_a_blank_name_is_refused() {
    for name in ["", "   ", "\t\n"] {
        let command = NewProduct {
            details: Details {
                name: en(name),
                ..details()
            },
            ..create_command()
        };
        assert_eq!(invalid_create_fields(command), ["name"], "name {name:?}");
    }
}

#[test]
fn creating_with_a_name_over_200_characters_is_refused() {
    let command = NewProduct {
        details: Details {
            name: en("é".repeat(201)),
            ..details()
        },
        ..create_command()
    };
    assert_eq!(invalid_create_fields(command), ["name"]);
}

#[test]
fn creating_with_a_description_over_5000_characters_is_refused() {
    let command = NewProduct {
        details: Details {
            description: Some(en("d".repeat(5001))),
            ..details()
        },
        ..create_command()
    };
    assert_eq!(invalid_create_fields(command), ["description"]);
}

#[test]
fn creating_with_a_category_over_100_characters_is_refused() {
    let command = NewProduct {
        details: Details {
            category: Some("c".repeat(101)),
            ..details()
        },
        ..create_command()
    };
    assert_eq!(invalid_create_fields(command), ["category"]);
}

#[test]
fn creating_with_more_than_50_attributes_is_refused() {
    let command = NewProduct {
        details: Details {
            attributes: (0..51).map(|i| (format!("k{i}"), "v".into())).collect(),
            ..details()
        },
        ..create_command()
    };
    assert_eq!(invalid_create_fields(command), ["attributes"]);
}

#[test]
fn creating_with_an_over_long_attribute_key_is_refused_naming_the_key() {
    let key = "k".repeat(101);
    let command = NewProduct {
        details: Details {
            attributes: attributes(&[("color", "red"), (key.as_str(), "v")]),
            ..details()
        },
        ..create_command()
    };
    assert_eq!(
        invalid_create_fields(command),
        [format!("attributes.{key}")]
    );
}

#[test]
fn creating_with_an_over_long_attribute_value_is_refused_naming_the_key() {
    let value = "v".repeat(1001);
    let command = NewProduct {
        details: Details {
            attributes: attributes(&[("color", "red"), ("material", value.as_str())]),
            ..details()
        },
        ..create_command()
    };
    assert_eq!(invalid_create_fields(command), ["attributes.material"]);
}

#[test]
fn creating_with_negative_stock_is_refused() {
    let command = NewProduct {
        stock: -1,
        ..create_command()
    };
    assert_eq!(invalid_create_fields(command), ["stock"]);
}

#[test]
fn creating_with_a_price_amount_outside_zero_to_ten_to_the_twelfth_is_refused() {
    for amount in [-1, 1_000_000_000_001, i64::MIN, i64::MAX] {
        let command = NewProduct {
            price: eur(amount),
            ..create_command()
        };
        assert_eq!(
            invalid_create_fields(command),
            ["price.amount"],
            "amount {amount}"
        );
    }
}

#[test]
fn creating_with_a_currency_that_is_not_an_iso_4217_code_is_refused() {
    for currency in ["", "eur", "Eur", "EU", "EURO", "E1R", "QQQ"] {
        let command = NewProduct {
            price: Money::new(1999, currency),
            ..create_command()
        };
        assert_eq!(
            invalid_create_fields(command),
            ["price.currency"],
            "currency {currency:?}"
        );
    }
}

#[test]
fn creating_with_several_broken_fields_names_them_all_at_once() {
    let command = NewProduct {
        sku: "bad sku".into(),
        details: Details {
            name: en(" "),
            description: Some(en("d".repeat(5001))),
            category: Some("c".repeat(101)),
            attributes: attributes(&[("color", &"v".repeat(1001))]),
        },
        price: Money::new(-5, "eur"),
        stock: -3,
    };
    assert_eq!(
        invalid_create_fields(command),
        fields(&[
            "sku",
            "name",
            "description",
            "price.amount",
            "price.currency",
            "stock",
            "category",
            "attributes.color",
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Commands to unknown or archived products
// ---------------------------------------------------------------------------------------------

#[test]
fn every_command_but_create_to_an_unknown_product_is_refused_as_not_found() {
    for command in every_command_but_create() {
        given_nothing()
            .when(command.clone())
            .then_expect_error(ProductError::NotFound);
        // Image events alone do not make a product exist.
        given(vec![attached("img-1")])
            .when(command)
            .then_expect_error(ProductError::NotFound);
    }
}

#[test]
fn every_command_but_create_to_an_archived_product_is_refused_as_archived() {
    for command in every_command_but_create() {
        given(vec![created(), attached("img-1"), archived()])
            .when(command.clone())
            .then_expect_error(ProductError::Archived);
        given(vec![created(), attached("img-1"), published(), archived()])
            .when(command)
            .then_expect_error(ProductError::Archived);
    }
}

#[test]
fn an_archived_product_refuses_even_commands_that_would_otherwise_be_invalid() {
    given(vec![created(), archived()])
        .when(adjust_stock(0, ""))
        .then_expect_error(ProductError::Archived);
    given(vec![created(), archived()])
        .when(update(UpdateDetails::default()))
        .then_expect_error(ProductError::Archived);
    given(vec![created(), archived()])
        .when(remove("unknown"))
        .then_expect_error(ProductError::Archived);
}

// ---------------------------------------------------------------------------------------------
// UpdateDetails
// ---------------------------------------------------------------------------------------------

#[test]
fn updating_one_field_records_the_whole_new_details_and_names_the_changed_field() {
    given(vec![created()])
        .when(update(UpdateDetails {
            name: Some("Blue T-shirt".into()),
            ..UpdateDetails::default()
        }))
        .then_expect_events(vec![ProductEvent::DetailsUpdated {
            details: Details {
                name: en("Blue T-shirt"),
                ..details()
            },
            changed: vec!["name".into()],
        }]);
}

#[test]
fn updating_names_only_the_fields_whose_value_changed() {
    let new_attributes = attributes(&[("color", "blue")]);
    given(vec![created()])
        .when(update(UpdateDetails {
            name: Some(TextInput::Localized(details().name)),
            description: Some(None),
            category: Some(Some("apparel".into())),
            attributes: Some(new_attributes.clone()),
        }))
        .then_expect_events(vec![ProductEvent::DetailsUpdated {
            details: Details {
                name: details().name,
                description: None,
                category: Some("apparel".into()),
                attributes: new_attributes,
            },
            changed: vec!["description".into(), "attributes".into()],
        }]);
}

#[test]
fn updating_builds_on_the_details_of_earlier_updates() {
    let earlier = ProductEvent::DetailsUpdated {
        details: Details {
            category: Some("shirts".into()),
            ..details()
        },
        changed: vec!["category".into()],
    };
    given(vec![created(), earlier])
        .when(update(UpdateDetails {
            description: Some(Some("organic cotton".into())),
            ..UpdateDetails::default()
        }))
        .then_expect_events(vec![ProductEvent::DetailsUpdated {
            details: Details {
                description: Some(en("organic cotton")),
                category: Some("shirts".into()),
                ..details()
            },
            changed: vec!["description".into()],
        }]);
}

#[test]
fn updating_a_published_product_is_allowed() {
    given(vec![created(), published()])
        .when(update(UpdateDetails {
            category: Some(None),
            ..UpdateDetails::default()
        }))
        .then_expect_events(vec![ProductEvent::DetailsUpdated {
            details: Details {
                category: None,
                ..details()
            },
            changed: vec!["category".into()],
        }]);
}

#[test]
fn updating_with_no_field_is_refused() {
    let fields = invalid_fields(given(vec![created()]), update(UpdateDetails::default()));
    assert_eq!(fields.len(), 1, "{fields:?}");
}

#[test]
fn updating_with_no_field_is_refused_naming_every_detail_field() {
    // The message is built from the one list of detail fields; its text is part of the contract.
    given(vec![created()])
        .when(update(UpdateDetails::default()))
        .then_expect_error(ProductError::invalid(
            "body",
            "give at least one of name, description, category, attributes",
        ));
}

#[test]
fn updating_to_the_current_values_records_nothing() {
    given(vec![created()])
        .when(update(UpdateDetails {
            name: Some(TextInput::Localized(details().name)),
            description: Some(details().description.map(TextInput::Localized)),
            category: Some(details().category),
            attributes: Some(details().attributes),
        }))
        .then_expect_events(vec![]);
}

#[test]
fn clearing_a_field_that_is_already_empty_records_nothing() {
    let bare = ProductEvent::ProductCreated {
        sku: SKU.into(),
        product_type: None,
        details: Details {
            name: en("Bare"),
            ..Details::default()
        },
        price: eur(1),
        stock: 0,
        variant_attributes: Default::default(),
    };
    given(vec![bare])
        .when(update(UpdateDetails {
            description: Some(None),
            category: Some(None),
            attributes: Some(BTreeMap::new()),
            ..UpdateDetails::default()
        }))
        .then_expect_events(vec![]);
}

#[test]
fn updating_with_values_that_break_the_rules_names_every_broken_field() {
    let executor = || given(vec![created()]);
    assert_eq!(
        invalid_fields(
            executor(),
            update(UpdateDetails {
                name: Some("  ".into()),
                ..UpdateDetails::default()
            })
        ),
        ["name"]
    );
    assert_eq!(
        invalid_fields(
            executor(),
            update(UpdateDetails {
                name: Some(TextInput::Plain("n".repeat(201))),
                description: Some(Some(TextInput::Plain("d".repeat(5001)))),
                category: Some(Some("c".repeat(101))),
                attributes: Some(attributes(&[("k", &"v".repeat(1001))])),
            })
        ),
        fields(&["name", "description", "category", "attributes.k"])
    );
    assert_eq!(
        invalid_fields(
            executor(),
            update(UpdateDetails {
                attributes: Some((0..51).map(|i| (format!("k{i}"), "v".into())).collect()),
                ..UpdateDetails::default()
            })
        ),
        ["attributes"]
    );
}

// ---------------------------------------------------------------------------------------------
// ChangePrice
// ---------------------------------------------------------------------------------------------

#[test]
fn changing_the_price_records_the_new_and_the_previous_price() {
    given(vec![created()])
        .when(ProductCommand::ChangePrice(eur(2499)))
        .then_expect_events(vec![ProductEvent::PriceChanged {
            price: eur(2499),
            previous: eur(1999),
        }]);
}

#[test]
fn changing_the_price_twice_carries_the_latest_price_as_previous() {
    given(vec![
        created(),
        ProductEvent::PriceChanged {
            price: eur(2499),
            previous: eur(1999),
        },
    ])
    .when(ProductCommand::ChangePrice(eur(0)))
    .then_expect_events(vec![ProductEvent::PriceChanged {
        price: eur(0),
        previous: eur(2499),
    }]);
}

#[test]
fn changing_the_price_to_the_current_price_records_nothing() {
    given(vec![created()])
        .when(ProductCommand::ChangePrice(eur(1999)))
        .then_expect_events(vec![]);
}

#[test]
fn a_price_in_another_currency_comes_first_and_keeps_the_rest() {
    // v1's `PUT /price` in a new currency: the client reads back the price it set (the first
    // price is what a read without `currency` serves), and the EUR price stays.
    given(vec![created()])
        .when(ProductCommand::ChangePrice(Money::new(1999, "USD")))
        .then_expect_events(vec![ProductEvent::PricesSet {
            variant_id: MASTER.into(),
            prices: vec![Price::base(Money::new(1999, "USD")), Price::base(eur(1999))],
        }]);
}

#[test]
fn changing_to_an_invalid_price_is_refused_naming_amount_and_currency() {
    let executor = || given(vec![created()]);
    assert_eq!(
        invalid_fields(executor(), ProductCommand::ChangePrice(eur(-1))),
        ["amount"]
    );
    assert_eq!(
        invalid_fields(
            executor(),
            ProductCommand::ChangePrice(eur(1_000_000_000_001))
        ),
        ["amount"]
    );
    assert_eq!(
        invalid_fields(
            executor(),
            ProductCommand::ChangePrice(Money::new(5, "usd"))
        ),
        ["currency"]
    );
    assert_eq!(
        invalid_fields(
            executor(),
            ProductCommand::ChangePrice(Money::new(-5, "XX"))
        ),
        fields(&["amount", "currency"])
    );
}

// ---------------------------------------------------------------------------------------------
// AdjustStock
// ---------------------------------------------------------------------------------------------

#[test]
fn adjusting_stock_records_the_delta_the_reason_and_the_resulting_stock() {
    given(vec![created()])
        .when(adjust_stock(7, "delivery"))
        .then_expect_events(vec![ProductEvent::StockAdjusted {
            delta: 7,
            reason: "delivery".into(),
            stock: 12,
        }]);
}

#[test]
fn adjusting_stock_starts_from_the_latest_adjustment() {
    given(vec![
        created(),
        stock_adjusted(10, 15),
        stock_adjusted(-4, 11),
    ])
    .when(adjust_stock(-11, "sold out"))
    .then_expect_events(vec![ProductEvent::StockAdjusted {
        delta: -11,
        reason: "sold out".into(),
        stock: 0,
    }]);
}

#[test]
fn adjusting_stock_below_zero_is_refused() {
    given(vec![created()])
        .when(adjust_stock(-6, "sale"))
        .then_expect_error(ProductError::InsufficientStock {
            available: 5,
            delta: -6,
        });
    given(vec![created(), stock_adjusted(-5, 0)])
        .when(adjust_stock(-1, "sale"))
        .then_expect_error(ProductError::InsufficientStock {
            available: 0,
            delta: -1,
        });
    given(vec![created()])
        .when(adjust_stock(i64::MIN, "sale"))
        .then_expect_error(ProductError::InsufficientStock {
            available: 5,
            delta: i64::MIN,
        });
}

#[test]
fn adjusting_stock_by_zero_is_refused() {
    assert_eq!(
        invalid_fields(given(vec![created()]), adjust_stock(0, "nothing")),
        ["delta"]
    );
}

#[test]
fn adjusting_stock_without_a_reason_is_refused() {
    for reason in ["", "   "] {
        assert_eq!(
            invalid_fields(given(vec![created()]), adjust_stock(1, reason)),
            ["reason"],
            "reason {reason:?}"
        );
    }
}

#[test]
fn adjusting_stock_with_a_reason_over_200_characters_is_refused() {
    assert_eq!(
        invalid_fields(given(vec![created()]), adjust_stock(1, &"r".repeat(201))),
        ["reason"]
    );
    let result = given(vec![created()])
        .when(adjust_stock(1, &"r".repeat(200)))
        .inspect_result();
    assert!(
        matches!(
            result.as_deref(),
            Ok([ProductEvent::StockAdjusted { stock: 6, .. }])
        ),
        "{result:?}"
    );
}

#[test]
fn adjusting_stock_by_zero_without_a_reason_names_both_fields() {
    assert_eq!(
        invalid_fields(given(vec![created()]), adjust_stock(0, "")),
        fields(&["delta", "reason"])
    );
}

#[test]
fn adjusting_stock_past_the_largest_integer_is_refused_as_invalid() {
    let full = ProductEvent::ProductCreated {
        sku: SKU.into(),
        product_type: None,
        details: details(),
        price: eur(1),
        stock: i64::MAX,
        variant_attributes: Default::default(),
    };
    assert_eq!(
        invalid_fields(given(vec![full]), adjust_stock(1, "overflow")),
        ["delta"]
    );
}

// ---------------------------------------------------------------------------------------------
// Publish, Unpublish, Archive
// ---------------------------------------------------------------------------------------------

#[test]
fn publishing_a_draft_records_that_it_was_published() {
    given(vec![created()])
        .when(ProductCommand::Publish)
        .then_expect_events(vec![published()]);
}

#[test]
fn publishing_twice_is_refused() {
    given(vec![created(), published()])
        .when(ProductCommand::Publish)
        .then_expect_error(ProductError::AlreadyPublished);
}

#[test]
fn publishing_again_after_unpublishing_is_allowed() {
    given(vec![created(), published(), unpublished()])
        .when(ProductCommand::Publish)
        .then_expect_events(vec![published()]);
}

#[test]
fn unpublishing_a_published_product_records_that_it_was_unpublished() {
    given(vec![created(), published()])
        .when(ProductCommand::Unpublish)
        .then_expect_events(vec![unpublished()]);
}

#[test]
fn unpublishing_a_draft_is_refused() {
    given(vec![created()])
        .when(ProductCommand::Unpublish)
        .then_expect_error(ProductError::NotPublished);
    given(vec![created(), published(), unpublished()])
        .when(ProductCommand::Unpublish)
        .then_expect_error(ProductError::NotPublished);
}

#[test]
fn archiving_records_the_sku_so_it_can_be_released() {
    given(vec![created()])
        .when(ProductCommand::Archive)
        .then_expect_events(vec![archived()]);
    given(vec![created(), published()])
        .when(ProductCommand::Archive)
        .then_expect_events(vec![archived()]);
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

#[test]
fn attaching_an_image_records_its_original() {
    given(vec![created()])
        .when(attach("img-1"))
        .then_expect_events(vec![attached("img-1")]);
}

#[test]
fn attaching_the_same_image_twice_is_refused() {
    given(vec![created(), attached("img-1")])
        .when(attach("img-1"))
        .then_expect_error(ProductError::ImageAlreadyAttached("img-1".into()));
    given(vec![created(), attached("img-1"), processed("img-1")])
        .when(attach("img-1"))
        .then_expect_error(ProductError::ImageAlreadyAttached("img-1".into()));
}

#[test]
fn attaching_an_image_beyond_twenty_is_refused() {
    assert_eq!(MAX_IMAGES, 20);
    let mut history = vec![created()];
    history.extend((0..19).map(|i| attached(&format!("img-{i}"))));
    given(history.clone())
        .when(attach("img-19"))
        .then_expect_events(vec![attached("img-19")]);

    history.push(attached("img-19"));
    given(history)
        .when(attach("img-20"))
        .then_expect_error(ProductError::TooManyImages { limit: 20 });
}

#[test]
fn failed_images_count_towards_the_limit_but_removed_ones_do_not() {
    let mut history = vec![created()];
    history.extend((0..20).map(|i| attached(&format!("img-{i}"))));
    history.push(processing_failed("img-0"));
    given(history.clone())
        .when(attach("img-new"))
        .then_expect_error(ProductError::TooManyImages { limit: 20 });

    history.push(removed("img-0", vec!["originals/img-0".into()]));
    given(history)
        .when(attach("img-new"))
        .then_expect_events(vec![attached("img-new")]);
}

#[test]
fn an_image_id_can_be_attached_again_after_its_image_was_removed() {
    given(vec![
        created(),
        attached("img-1"),
        removed("img-1", vec!["originals/img-1".into()]),
    ])
    .when(attach("img-1"))
    .then_expect_events(vec![attached("img-1")]);
}

#[test]
fn removing_an_image_still_processing_records_its_original_blob() {
    given(vec![created(), attached("img-1")])
        .when(remove("img-1"))
        .then_expect_events(vec![removed("img-1", vec!["originals/img-1".into()])]);
}

#[test]
fn removing_a_processed_image_records_the_original_and_every_rendition_blob() {
    let mut expected_keys = vec!["originals/img-1".to_string()];
    for name in RENDITION_NAMES {
        expected_keys.push(format!("renditions/img-1/{name}.webp"));
        expected_keys.push(format!("renditions/img-1/{name}.jpg"));
    }
    let result = given(vec![
        created(),
        attached("img-0"),
        attached("img-1"),
        processed("img-0"),
        processed("img-1"),
    ])
    .when(remove("img-1"))
    .inspect_result();
    let events = result.expect("removing a processed image succeeds");
    let [ProductEvent::ImageRemoved {
        image_id,
        blob_keys,
    }] = events.as_slice()
    else {
        panic!("expected one ImageRemoved, got {events:?}");
    };
    assert_eq!(image_id, "img-1");
    assert_eq!(blob_keys.len(), 1 + 2 * RENDITION_NAMES.len());
    assert_eq!(blob_keys[0], "originals/img-1", "the original comes first");
    let mut actual = blob_keys.clone();
    actual.sort();
    expected_keys.sort();
    assert_eq!(actual, expected_keys);
}

#[test]
fn removing_a_failed_image_records_its_original_blob() {
    given(vec![
        created(),
        attached("img-1"),
        processing_failed("img-1"),
    ])
    .when(remove("img-1"))
    .then_expect_events(vec![removed("img-1", vec!["originals/img-1".into()])]);
}

#[test]
fn removing_an_unknown_image_is_refused() {
    given(vec![created(), attached("img-1")])
        .when(remove("img-2"))
        .then_expect_error(ProductError::ImageNotFound);
}

#[test]
fn removing_an_image_twice_is_refused() {
    given(vec![
        created(),
        attached("img-1"),
        removed("img-1", vec!["originals/img-1".into()]),
    ])
    .when(remove("img-1"))
    .then_expect_error(ProductError::ImageNotFound);
}

#[test]
fn recording_an_image_as_processed_records_its_size_blurhash_and_renditions() {
    given(vec![created(), attached("img-1")])
        .when(ProductCommand::RecordImageProcessed(processed_command(
            "img-1",
        )))
        .then_expect_events(vec![processed("img-1")]);
}

#[test]
fn recording_an_image_as_processed_without_renditions_is_refused() {
    let command = RecordImageProcessed {
        renditions: BTreeMap::new(),
        ..processed_command("img-1")
    };
    assert_eq!(
        invalid_fields(
            given(vec![created(), attached("img-1")]),
            ProductCommand::RecordImageProcessed(command)
        ),
        ["renditions"]
    );
}

#[test]
fn recording_an_image_that_is_not_processing_as_processed_is_refused_with_its_status() {
    given(vec![created(), attached("img-1"), processed("img-1")])
        .when(ProductCommand::RecordImageProcessed(processed_command(
            "img-1",
        )))
        .then_expect_error(ProductError::ImageNotProcessing {
            status: "ready".into(),
        });
    given(vec![
        created(),
        attached("img-1"),
        processing_failed("img-1"),
    ])
    .when(ProductCommand::RecordImageProcessed(processed_command(
        "img-1",
    )))
    .then_expect_error(ProductError::ImageNotProcessing {
        status: "failed".into(),
    });
}

#[test]
fn recording_an_unknown_or_removed_image_as_processed_is_refused() {
    given(vec![created(), attached("img-1")])
        .when(ProductCommand::RecordImageProcessed(processed_command(
            "img-2",
        )))
        .then_expect_error(ProductError::ImageNotFound);
    given(vec![
        created(),
        attached("img-1"),
        removed("img-1", vec!["originals/img-1".into()]),
    ])
    .when(ProductCommand::RecordImageProcessed(processed_command(
        "img-1",
    )))
    .then_expect_error(ProductError::ImageNotFound);
}

#[test]
fn recording_an_image_as_failed_records_the_reason() {
    given(vec![created(), attached("img-1")])
        .when(record_failed("img-1", "decoder error"))
        .then_expect_events(vec![processing_failed("img-1")]);
}

#[test]
fn recording_an_image_as_failed_without_a_reason_is_refused() {
    assert_eq!(
        invalid_fields(
            given(vec![created(), attached("img-1")]),
            record_failed("img-1", " ")
        ),
        ["reason"]
    );
}

#[test]
fn recording_an_image_that_is_not_processing_as_failed_is_refused_with_its_status() {
    given(vec![created(), attached("img-1"), processed("img-1")])
        .when(record_failed("img-1", "decoder error"))
        .then_expect_error(ProductError::ImageNotProcessing {
            status: "ready".into(),
        });
    given(vec![
        created(),
        attached("img-1"),
        processing_failed("img-1"),
    ])
    .when(record_failed("img-1", "decoder error"))
    .then_expect_error(ProductError::ImageNotProcessing {
        status: "failed".into(),
    });
}

#[test]
fn recording_an_unknown_or_removed_image_as_failed_is_refused() {
    given(vec![created(), attached("img-1")])
        .when(record_failed("img-2", "decoder error"))
        .then_expect_error(ProductError::ImageNotFound);
    given(vec![
        created(),
        attached("img-1"),
        removed("img-1", vec!["originals/img-1".into()]),
    ])
    .when(record_failed("img-1", "decoder error"))
    .then_expect_error(ProductError::ImageNotFound);
}

// ---------------------------------------------------------------------------------------------
// apply / replay
// ---------------------------------------------------------------------------------------------

#[test]
fn a_product_without_events_does_not_exist() {
    let product = Product::replay(&[]);
    assert!(!product.exists());
    assert_eq!(product.status, None);
}

#[test]
fn replaying_the_creation_gives_a_draft_with_the_created_values() {
    let product = Product::replay(&[created()]);
    assert!(product.exists());
    assert_eq!(product.status, Some(ProductStatus::Draft));
    assert_eq!(product.sku(), SKU);
    assert_eq!(product.details, details());
    assert_eq!(product.price(), Some(&eur(1999)));
    assert_eq!(product.stock(), 5);
    assert!(product.images.is_empty());
}

#[test]
fn replaying_a_history_gives_the_latest_details_price_stock_and_status() {
    let new_details = Details {
        name: en("Blue T-shirt"),
        description: None,
        category: Some("shirts".into()),
        attributes: attributes(&[("color", "blue")]),
    };
    let history = vec![
        created(),
        ProductEvent::DetailsUpdated {
            details: new_details.clone(),
            changed: vec![
                "name".into(),
                "description".into(),
                "category".into(),
                "attributes".into(),
            ],
        },
        ProductEvent::PriceChanged {
            price: Money::new(2999, "USD"),
            previous: eur(1999),
        },
        stock_adjusted(10, 15),
        stock_adjusted(-3, 12),
        published(),
    ];
    let product = Product::replay(&history);
    assert_eq!(product.status, Some(ProductStatus::Published));
    assert_eq!(product.sku(), SKU);
    assert_eq!(product.details, new_details);
    assert_eq!(product.price(), Some(&Money::new(2999, "USD")));
    assert_eq!(product.stock(), 12);
}

#[test]
fn replaying_publish_unpublish_and_archive_moves_the_status() {
    let mut history = vec![created()];
    let steps = [
        (published(), ProductStatus::Published),
        (unpublished(), ProductStatus::Draft),
        (published(), ProductStatus::Published),
        (archived(), ProductStatus::Archived),
    ];
    for (event, status) in steps {
        history.push(event);
        assert_eq!(
            Product::replay(&history).status,
            Some(status),
            "{history:?}"
        );
    }
}

#[test]
fn replaying_image_events_tracks_each_image_from_processing_to_ready_or_failed() {
    let mut product = Product::replay(&[
        created(),
        attached("img-1"),
        attached("img-2"),
        attached("img-3"),
    ]);
    assert_eq!(
        product
            .images
            .iter()
            .map(|i| (i.id.as_str(), i.status))
            .collect::<Vec<_>>(),
        [
            ("img-1", ImageStatus::Processing),
            ("img-2", ImageStatus::Processing),
            ("img-3", ImageStatus::Processing),
        ]
    );
    let fresh = &product.images[0];
    assert_eq!(fresh.original, original("img-1"));
    assert_eq!((fresh.width, fresh.height), (None, None));
    assert!(fresh.renditions.is_empty() && fresh.failure.is_none());

    product.apply(processed("img-1"));
    product.apply(processing_failed("img-2"));
    product.apply(removed("img-3", vec!["originals/img-3".into()]));

    assert_eq!(product.images.len(), 2, "the removed image is gone");
    let ready = &product.images[0];
    assert_eq!(ready.id, "img-1");
    assert_eq!(ready.status, ImageStatus::Ready);
    assert_eq!((ready.width, ready.height), (Some(2400), Some(1600)));
    assert_eq!(
        ready.blurhash.as_deref(),
        Some("LEHV6nWB2yk8pyo0adR*.7kCMdnj")
    );
    assert_eq!(ready.renditions, renditions("img-1"));
    assert_eq!(ready.original, original("img-1"));
    assert_eq!(ready.failure, None);

    let failed = &product.images[1];
    assert_eq!(failed.id, "img-2");
    assert_eq!(failed.status, ImageStatus::Failed);
    assert_eq!(failed.failure.as_deref(), Some("decoder error"));
    assert!(failed.renditions.is_empty());
}

#[test]
fn replaying_equals_applying_the_events_one_by_one() {
    let history = vec![
        created(),
        attached("img-1"),
        processed("img-1"),
        stock_adjusted(-5, 0),
        published(),
    ];
    let mut applied = Product::default();
    for event in history.clone() {
        applied.apply(event);
    }
    let replayed = Product::replay(&history);
    assert_eq!(replayed, applied);
    assert_eq!(replayed.stock(), 0);
    assert_eq!(replayed.images[0].status, ImageStatus::Ready);
}

#[test]
fn replaying_the_events_a_command_produced_gives_the_state_the_next_command_sees() {
    let mut history = vec![created()];
    let commands = [
        adjust_stock(-2, "sale"),
        ProductCommand::ChangePrice(eur(1499)),
        attach("img-1"),
        ProductCommand::RecordImageProcessed(processed_command("img-1")),
        ProductCommand::Publish,
    ];
    for command in commands {
        let events = Product::replay(&history)
            .decide(command.clone(), context())
            .unwrap_or_else(|e| panic!("{command:?} refused: {e}"));
        assert_eq!(events.len(), 1, "{command:?}");
        history.extend(events);
    }
    let product = Product::replay(&history);
    assert_eq!(product.stock(), 3);
    assert_eq!(product.price(), Some(&eur(1499)));
    assert_eq!(product.status, Some(ProductStatus::Published));
    assert_eq!(product.images[0].status, ImageStatus::Ready);
    assert_eq!(
        product.decide(ProductCommand::Publish, context()),
        Err(ProductError::AlreadyPublished)
    );
}

// ---------------------------------------------------------------------------------------------
// Event payloads
// ---------------------------------------------------------------------------------------------

#[test]
fn every_event_round_trips_through_json() {
    for event in one_of_each_event() {
        let json = serde_json::to_string(&event).expect("serialises");
        let back: ProductEvent = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, event, "{json}");

        let value = serde_json::to_value(&event).expect("serialises to a value");
        let back: ProductEvent = serde_json::from_value(value).expect("deserialises a value");
        assert_eq!(back, event);
    }
}

#[test]
fn every_event_type_is_its_variant_name_at_its_current_version() {
    // The list readers filter on (the change feed, webhooks) names every event, in order.
    let expected = ProductEvent::TYPE_NAMES.iter().copied();
    let events = one_of_each_event();
    assert_eq!(events.len(), expected.len());
    for (event, name) in events.iter().zip(expected) {
        assert_eq!(event.event_type(), name);
        // The shapes that carry details are at version 2 (localized texts, typed attributes),
        // the creation at 3 (the master's variant attributes); the others have never changed.
        let version = match name {
            "ProductCreated" => "3",
            "DetailsUpdated" => "2",
            _ => "1",
        };
        assert_eq!(event.event_version(), version, "{name}");
        // The stored payload is tagged with the same name.
        let value = serde_json::to_value(event).expect("serialises");
        let tags: Vec<&String> = value.as_object().expect("an object").keys().collect();
        assert_eq!(tags, [name], "{value}");
    }
}

#[test]
fn created_and_updated_payloads_carry_the_details_as_flat_fields() {
    let value = serde_json::to_value(created()).expect("serialises");
    let data = &value["ProductCreated"];
    assert_eq!(data["sku"], SKU);
    assert_eq!(data["name"], serde_json::json!({"en": "Red T-shirt"}));
    assert_eq!(
        data["description"],
        serde_json::json!({"en": "100% cotton"})
    );
    assert_eq!(data["category"], "apparel");
    assert_eq!(data["attributes"]["color"], "red");
    assert_eq!(data["price"]["amount"], 1999);
    assert_eq!(data["price"]["currency"], "EUR");
    assert_eq!(data["stock"], 5);
    assert!(data.get("details").is_none(), "{data}");

    let value = serde_json::to_value(ProductEvent::DetailsUpdated {
        details: details(),
        changed: vec!["name".into()],
    })
    .expect("serialises");
    let data = &value["DetailsUpdated"];
    assert_eq!(data["name"], serde_json::json!({"en": "Red T-shirt"}));
    assert_eq!(data["changed"], serde_json::json!(["name"]));
    assert!(data.get("details").is_none(), "{data}");
}
