//! The ProductType aggregate and typed attributes, against the rules of the HTTP contract
//! ("Product types"): given past events, when a definition or a product command arrives, then
//! these events are recorded or this refusal is returned.

use catalog_domain::{
    AttributeDefinition, AttributeKind, AttributeValue, Attributes, Context, CreateProduct,
    DefineProductType, Level, Locale, Money, Product, ProductCommand, ProductError, ProductEvent,
    ProductType, ProductTypeError, ProductTypeEvent, TextInput, UpdateDetails,
};
use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;
use serde_json::json;

fn attribute(name: &str, kind: AttributeKind) -> AttributeDefinition {
    AttributeDefinition {
        name: name.into(),
        kind,
        required: false,
        values: None,
        level: Level::Product,
        facet: false,
    }
}

fn required(mut definition: AttributeDefinition) -> AttributeDefinition {
    definition.required = true;
    definition
}

fn enumeration(name: &str, values: &[&str]) -> AttributeDefinition {
    AttributeDefinition {
        values: Some(values.iter().map(ToString::to_string).collect()),
        ..attribute(name, AttributeKind::Enum)
    }
}

/// A mug: a required material (ltext), a volume, dishwasher-safe, a colour from a list, a
/// release date, and a size per variant.
fn mug_attributes() -> Vec<AttributeDefinition> {
    vec![
        required(attribute("material", AttributeKind::Ltext)),
        attribute("volume_ml", AttributeKind::Number),
        attribute("dishwasher_safe", AttributeKind::Boolean),
        enumeration("colour", &["white", "blue"]),
        attribute("released", AttributeKind::Date),
        attribute("note", AttributeKind::Text),
        AttributeDefinition {
            level: Level::Variant,
            ..enumeration("size", &["S", "M", "L"])
        },
    ]
}

fn define(attributes: Vec<AttributeDefinition>) -> DefineProductType {
    DefineProductType {
        key: "mug".into(),
        name: "Mug".into(),
        attributes,
    }
}

fn created() -> ProductTypeEvent {
    ProductTypeEvent::ProductTypeCreated {
        key: "mug".into(),
        name: "Mug".into(),
        attributes: mug_attributes(),
    }
}

fn fields(errors: Vec<catalog_domain::FieldError>) -> Vec<String> {
    let mut fields: Vec<String> = errors.into_iter().map(|e| e.field).collect();
    fields.sort();
    fields
}

// ---------------------------------------------------------------------------------------------
// Defining a type
// ---------------------------------------------------------------------------------------------

#[test]
fn a_new_key_is_created_with_its_definition() {
    TestFramework::<ProductType>::with(())
        .given_no_previous_events()
        .when(define(mug_attributes()))
        .then_expect_events(vec![created()]);
}

#[test]
fn the_same_definition_again_records_nothing() {
    TestFramework::<ProductType>::with(())
        .given(vec![created()])
        .when(define(mug_attributes()))
        .then_expect_events(vec![]);
}

#[test]
fn every_compatible_change_is_recorded_whole() {
    // Given the mug type
    let mut attributes = mug_attributes();
    // When an optional attribute is added, an enum value added, a required attribute made
    // optional, and a facet flag and the name changed
    attributes.push(attribute("gift_box", AttributeKind::Boolean));
    attributes[3].values.as_mut().unwrap().push("green".into());
    attributes[0].required = false;
    attributes[1].facet = true;
    let mut definition = define(attributes.clone());
    definition.name = "Mug or cup".into();
    // Then the type changed, and the event holds the whole new definition
    TestFramework::<ProductType>::with(())
        .given(vec![created()])
        .when(definition)
        .then_expect_events(vec![ProductTypeEvent::ProductTypeChanged {
            name: "Mug or cup".into(),
            attributes,
        }]);
}

#[test]
fn every_incompatible_change_is_refused_and_listed() {
    // Given the mug type
    let mut attributes = mug_attributes();
    // When one change of every incompatible kind is asked at once
    attributes.remove(5); // note: removed
    attributes[1].kind = AttributeKind::Text; // volume_ml: number → text
    attributes[2].required = true; // dishwasher_safe: made required
    attributes[3].values = Some(vec!["white".into()]); // colour: "blue" removed
    attributes[5].level = Level::Product; // size: variant → product
    attributes.push(required(attribute("handle", AttributeKind::Text))); // new and required
                                                                         // Then it is refused with every change named, and nothing is recorded
    let result = TestFramework::<ProductType>::with(())
        .given(vec![created()])
        .when(define(attributes))
        .inspect_result();
    let Err(ProductTypeError::Incompatible(errors)) = result else {
        panic!("expected Incompatible, got {result:?}");
    };
    assert_eq!(
        fields(errors),
        [
            "attributes",
            "attributes[1].type",
            "attributes[2].required",
            "attributes[3].values",
            "attributes[5].level",
            "attributes[6].required",
        ]
    );
}

#[test]
fn a_definition_breaking_the_rules_is_refused_with_every_broken_rule() {
    let mut bad = define(vec![
        attribute("Bad Name", AttributeKind::Text),
        attribute("twice", AttributeKind::Text),
        attribute("twice", AttributeKind::Number),
        attribute("colour", AttributeKind::Enum),
        enumeration("size", &[]),
        AttributeDefinition {
            values: Some(vec!["a".into()]),
            ..attribute("weight", AttributeKind::Number)
        },
        enumeration("fit", &["slim", "slim"]),
    ]);
    bad.key = "Not A Key".into();
    bad.name = " ".into();
    let result = ProductType::default().decide(bad);
    let Err(ProductTypeError::Invalid(errors)) = result else {
        panic!("expected Invalid, got {result:?}");
    };
    assert_eq!(
        fields(errors),
        [
            "attributes[0].name",
            "attributes[2].name",
            "attributes[3].values",
            "attributes[4].values",
            "attributes[5].values",
            "attributes[6].values",
            "key",
            "name",
        ]
    );
    let too_many = define(
        (0..101)
            .map(|i| attribute(&format!("a{i}"), AttributeKind::Text))
            .collect(),
    );
    let Err(ProductTypeError::Invalid(errors)) = ProductType::default().decide(too_many) else {
        panic!("101 attributes must be refused");
    };
    assert_eq!(fields(errors), ["attributes"]);
}

// ---------------------------------------------------------------------------------------------
// Typed products
// ---------------------------------------------------------------------------------------------

fn mug_type() -> ProductType {
    let mut product_type = ProductType::default();
    product_type.apply(created());
    product_type
}

fn english() -> Locale {
    Locale::default()
}

fn create_typed(attributes: serde_json::Value) -> ProductCommand {
    ProductCommand::Create(CreateProduct {
        sku: "MUG-1".into(),
        product_type: Some("mug".into()),
        name: "Mug".into(),
        description: None,
        category: None,
        attributes: serde_json::from_value::<Attributes>(attributes).unwrap(),
        price: Money::new(900, "EUR"),
        stock: 0,
        variant_attributes: Attributes::new(),
    })
}

fn decide(
    product: &Product,
    command: ProductCommand,
    with_type: bool,
) -> Result<Vec<ProductEvent>, ProductError> {
    let locale = english();
    let product_type = mug_type();
    let context = Context {
        product_type: with_type.then_some(&product_type),
        default_locale: &locale,
    };
    product.decide(command, context)
}

fn invalid(result: Result<Vec<ProductEvent>, ProductError>) -> Vec<String> {
    match result {
        Err(ProductError::Invalid(errors)) => fields(errors),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_typed_product_stores_its_values_as_the_type_defines_them() {
    // When a mug is created with a value of each kind, its ltext as a plain string
    let events = decide(
        &Product::default(),
        create_typed(json!({
            "material": "porcelain",
            "volume_ml": 350,
            "dishwasher_safe": true,
            "colour": "blue",
            "released": "2026-02-28",
            "note": "hand-glazed"
        })),
        true,
    )
    .unwrap();
    // Then the type is recorded and the plain ltext became a text in the default locale
    let [ProductEvent::ProductCreated {
        product_type,
        details,
        ..
    }] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(product_type.as_deref(), Some("mug"));
    assert_eq!(
        serde_json::to_value(&details.attributes).unwrap(),
        json!({
            "material": {"en": "porcelain"},
            "volume_ml": 350,
            "dishwasher_safe": true,
            "colour": "blue",
            "released": "2026-02-28",
            "note": "hand-glazed"
        })
    );
}

#[test]
fn every_broken_attribute_rule_is_reported_at_once() {
    let fields = invalid(decide(
        &Product::default(),
        create_typed(json!({
            "volume_ml": "large",
            "dishwasher_safe": "yes",
            "colour": "purple",
            "released": "2026-02-30",
            "note": 5,
            "size": "M",
            "handle": "round"
        })),
        true,
    ));
    assert_eq!(
        fields,
        [
            "attributes.colour",
            "attributes.dishwasher_safe",
            "attributes.handle",
            "attributes.material",
            "attributes.note",
            "attributes.released",
            "attributes.size",
            "attributes.volume_ml",
        ]
    );
}

#[test]
fn an_unknown_type_is_refused_on_the_field_type() {
    let fields = invalid(decide(
        &Product::default(),
        create_typed(json!({"material": "porcelain"})),
        false,
    ));
    assert_eq!(fields, ["type"]);
}

#[test]
fn a_localized_attribute_checks_each_locale() {
    let fields = invalid(decide(
        &Product::default(),
        create_typed(
            json!({"material": {"en": "porcelain", "not a tag": "x", "de": "a".repeat(1001)}}),
        ),
        true,
    ));
    assert_eq!(
        fields,
        ["attributes.material.de", "attributes.material.not a tag"]
    );
    let fields = invalid(decide(
        &Product::default(),
        create_typed(json!({"material": {}})),
        true,
    ));
    assert_eq!(fields, ["attributes.material"]);
}

#[test]
fn an_update_of_a_typed_product_checks_the_whole_new_set() {
    // Given a mug
    let created = decide(
        &Product::default(),
        create_typed(json!({"material": "porcelain"})),
        true,
    )
    .unwrap();
    let product = Product::replay(&created);
    // When its attributes are replaced by a set without the required material
    let update = ProductCommand::UpdateDetails(UpdateDetails {
        attributes: Some(serde_json::from_value(json!({"volume_ml": 300})).unwrap()),
        ..UpdateDetails::default()
    });
    // Then the missing required attribute is reported
    assert_eq!(
        invalid(decide(&product, update.clone(), true)),
        ["attributes.material"]
    );
    // And without the type's definition at hand, nothing is decided
    assert_eq!(
        decide(&product, update, false),
        Err(ProductError::TypeUnavailable("mug".into()))
    );
    // While a change of its name needs no definition
    let rename = ProductCommand::UpdateDetails(UpdateDetails {
        name: Some(TextInput::Localized(
            serde_json::from_value(json!({"en": "Mug", "de": "Becher"})).unwrap(),
        )),
        ..UpdateDetails::default()
    });
    assert!(decide(&product, rename, false).is_ok());
}

#[test]
fn an_untyped_product_keeps_v1_string_attributes() {
    let command = ProductCommand::Create(CreateProduct {
        sku: "PLAIN-1".into(),
        product_type: None,
        name: "Plain".into(),
        description: None,
        category: None,
        attributes: serde_json::from_value(json!({"colour": "red", "weight": 5})).unwrap(),
        price: Money::new(100, "EUR"),
        stock: 0,
        variant_attributes: Attributes::new(),
    });
    // v1 read a non-string attribute as a malformed body: a wrong type, not a broken rule
    assert_eq!(
        decide(&Product::default(), command, false),
        Err(ProductError::WrongType {
            field: "attributes.weight".into()
        })
    );
    let attributes: Attributes = serde_json::from_value(json!({"colour": "red"})).unwrap();
    assert_eq!(attributes["colour"], AttributeValue::Text("red".into()));
}

// ---------------------------------------------------------------------------------------------
// Variant attributes
// ---------------------------------------------------------------------------------------------

/// The fields a variant's `attributes` break, sorted, and what is stored when none is broken.
fn check_variant(attributes: serde_json::Value, master: bool) -> (Vec<String>, Attributes) {
    let mut violations = catalog_domain::rules::Violations::default();
    let checked = mug_type().check_variant_attributes(
        "attributes",
        serde_json::from_value(attributes).unwrap(),
        master,
        &english(),
        &mut violations,
    );
    let broken = violations
        .into_result()
        .err()
        .map(fields)
        .unwrap_or_default();
    (broken, checked)
}

#[test]
fn a_variant_holds_the_types_variant_attributes_only() {
    // Given the mug type, whose size is per variant
    // When a variant names its size
    let (broken, checked) = check_variant(json!({"size": "M"}), false);
    // Then it is stored as given
    assert!(broken.is_empty(), "{broken:?}");
    assert_eq!(checked["size"], AttributeValue::Text("M".into()));
    // When a variant names a size off the list, a product attribute and an unknown one
    let (broken, _) = check_variant(
        json!({"size": "XXL", "material": "porcelain", "handle": "round"}),
        false,
    );
    // Then each is refused at once
    assert_eq!(
        broken,
        [
            "attributes.handle",
            "attributes.material",
            "attributes.size"
        ]
    );
}

#[test]
fn a_required_variant_attribute_binds_every_variant_but_the_master() {
    // Given a type whose size is required per variant
    let mut definition = define(mug_attributes());
    for attribute in &mut definition.attributes {
        if attribute.level == Level::Variant {
            attribute.required = true;
        }
    }
    let mut product_type = ProductType::default();
    product_type.apply(ProductTypeEvent::ProductTypeCreated {
        key: definition.key,
        name: definition.name,
        attributes: definition.attributes,
    });
    let check = |master| {
        let mut violations = catalog_domain::rules::Violations::default();
        product_type.check_variant_attributes(
            "variant_attributes",
            Attributes::new(),
            master,
            &english(),
            &mut violations,
        );
        violations
            .into_result()
            .err()
            .map(fields)
            .unwrap_or_default()
    };
    // Then a variant without one is refused, the master (a v1 product's has none) is not
    assert_eq!(check(false), ["variant_attributes.size"]);
    assert!(check(true).is_empty());
}
