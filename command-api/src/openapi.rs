//! The OpenAPI 3.1 document of command-api, generated from the handlers' `#[utoipa::path]`
//! attributes and the body types' `ToSchema` derives, served at `GET /openapi.json` with Swagger
//! UI at `GET /docs` (`catalog_support::openapi`). The rules the schemas state (lengths,
//! patterns, ranges, currencies) are the domain's own (`catalog_domain::rules`).

use catalog_domain::rules;
use catalog_domain::DetailField;
use serde_json::json;
use utoipa::openapi::encoding::Encoding;
use utoipa::openapi::schema::{
    AdditionalProperties, Object, ObjectBuilder, OneOf, OneOfBuilder, Schema,
};
use utoipa::openapi::{OpenApi as Document, RefOr, Type};
use utoipa::{IntoParams, Modify};

pub use catalog_support::openapi::BEARER;

catalog_support::problem_set!(
    /// What saving a webhook subscription can answer besides its success.
    pub SubscriptionErrors = [400, 401, 403, 413, 415, 422, 429, 503]
);
catalog_support::problem_set!(
    /// What reading or removing a webhook subscription can answer besides its success.
    pub SubscriptionReadErrors = [401, 403, 404, 429, 503]
);
catalog_support::problem_set!(
    /// What listing webhook subscriptions can answer besides its success.
    pub SubscriptionListErrors = [401, 403, 429, 503]
);
catalog_support::problem_set!(
    /// What starting an import can answer besides its success.
    pub ImportErrors = [400, 401, 403, 413, 415, 429, 503]
);
catalog_support::problem_set!(
    /// What reading an import job can answer besides its success.
    pub ImportReadErrors = [401, 403, 404, 429, 503]
);
catalog_support::problem_set!(
    /// What listing import jobs can answer besides its success.
    pub ImportListErrors = [401, 403, 429, 503]
);
catalog_support::problem_set!(
    /// What creating a product can answer besides its success.
    pub CreateErrors = [400, 401, 403, 409, 413, 415, 422, 429, 503]
);
catalog_support::problem_set!(
    /// What a command with a body to an existing product can answer besides its success.
    pub BodyCommandErrors = [400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503]
);
catalog_support::problem_set!(
    /// What defining a product type can answer besides its success.
    pub TypeErrors = [400, 401, 403, 409, 413, 415, 422, 429, 503]
);
catalog_support::problem_set!(
    /// What a command without a body to an existing product can answer besides its success.
    pub CommandErrors = [400, 401, 403, 404, 409, 412, 422, 429, 503]
);
use catalog_support::openapi::{NOT_BLANK, STORABLE};

/// The product a command is for.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // parameters only: handlers read the path as a string (a non-UUID is 404)
pub struct ProductPath {
    /// The product's id.
    #[param(format = Uuid)]
    id: String,
}

/// The image a command is for.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ImagePath {
    /// The image's id, as in the product's `images`.
    #[param(format = Uuid)]
    image_id: String,
}

/// The headers of a command on an existing product.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct CommandHeaders {
    /// `"<version>"`: run the command only if the product is at that version, else 412 and
    /// nothing is written. `*` (any version), `W/"<version>"` and a bare number are accepted too.
    #[param(
        rename = "If-Match",
        nullable = false,
        pattern = r#"^(\*|(W/)?"[0-9]{1,19}"|[0-9]{1,19})$"#
    )]
    if_match: Option<String>,
    /// A retry with the same key and the same request returns the first response (with
    /// `Idempotent-Replayed: true`) and writes nothing; the same key with another request is 422.
    /// Keys are kept at least 24 hours. 1 to 255 printable ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        pattern = "^[!-~]([ -~]{0,253}[!-~])?$"
    )]
    idempotency_key: Option<String>,
}

/// The headers of a create.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct CreateHeaders {
    /// A retry with the same key and the same request returns the first response (with
    /// `Idempotent-Replayed: true`) and writes nothing; the same key with another request is 422.
    /// Keys are kept at least 24 hours. 1 to 255 printable ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        pattern = "^[!-~]([ -~]{0,253}[!-~])?$"
    )]
    idempotency_key: Option<String>,
}

fn string(min: usize, max: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
}

/// A SKU: 1 to 64 characters of the SKU alphabet.
pub fn sku() -> Object {
    string(1, rules::SKU_MAX)
        .pattern(Some(rules::SKU_PATTERN))
        .description(Some(
            "Unique among products that are not archived (409 if taken); exact, case-sensitive.",
        ))
        .examples([json!("MUG-1")])
        .build()
}

/// Optional text of at most `max` characters without NUL; `null` is no value.
fn optional_text(max: usize) -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .max_length(Some(max))
        .pattern(Some(STORABLE))
        .build()
}

/// A product's description: at most 5000 characters, no NUL.
pub fn description() -> Object {
    optional_text(rules::DESCRIPTION_MAX)
}

/// A product's category: at most 100 characters, no NUL.
pub fn category() -> Object {
    optional_text(rules::CATEGORY_MAX)
}

/// A product's name: 1 to 200 characters, not all white space, no NUL.
pub fn name() -> Object {
    string(1, rules::NAME_MAX)
        .pattern(Some(NOT_BLANK))
        .examples([json!("Espresso cup")])
        .build()
}

/// A stock adjustment's reason: 1 to 200 characters, not all white space, no NUL.
pub fn reason() -> Object {
    string(1, rules::REASON_MAX)
        .pattern(Some(NOT_BLANK))
        .examples([json!("restock")])
        .build()
}

/// An ISO 4217 currency code, as the rules accept them.
pub fn currency() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(catalog_domain::currency_codes()))
        .examples([json!("EUR")])
        .build()
}

/// A non-zero integer.
pub fn delta() -> Object {
    let mut schema = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .examples([json!(10), json!(-1)])
        .build();
    // utoipa has no builder for `not`; its extensions are written out as they are.
    schema
        .extensions
        .get_or_insert_with(Default::default)
        .insert("not".into(), json!({"const": 0}));
    schema
}

/// Attributes: string to string, at most 50 entries, keys 1 to 100 characters, values at most
/// 1000, neither with a NUL; `null` (where allowed) is no attributes.
pub fn attributes() -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Object,
            Type::Null,
        ]))
        .max_properties(Some(rules::ATTRIBUTES_MAX))
        .property_names(Some(
            string(1, rules::ATTRIBUTE_KEY_MAX).pattern(Some(STORABLE)),
        ))
        .additional_properties(Some(
            string(0, rules::ATTRIBUTE_VALUE_MAX).pattern(Some(STORABLE)),
        ))
        .examples([json!({"color": "white"})])
        .build()
}

/// What a locale tag looks like in a document; the service checks tags fully (BCP 47).
const LOCALE_TAG: &str = "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$";

/// A text per locale: BCP 47 tag → text (`text`), 1 to 50 of them.
fn per_locale(text: ObjectBuilder) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .min_properties(Some(1))
        .max_properties(Some(catalog_domain::locale::LOCALES_MAX))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(LOCALE_TAG)),
        ))
        .additional_properties(Some(text))
        .build()
}

/// A LocalizedString: a plain string (the text in `DEFAULT_LOCALE`) or an object of BCP 47
/// tags to texts, each under `text`'s rules.
fn localized(plain: Object, text: ObjectBuilder, example: serde_json::Value) -> Schema {
    let one_of: OneOf = OneOfBuilder::new()
        .item(plain)
        .item(per_locale(text))
        .description(Some(
            "LocalizedString: a plain string, the text in the default locale, or an object of \
             BCP 47 tags (`en`, `de-CH`; 1 to 50) to texts.",
        ))
        .examples([example])
        .build();
    Schema::OneOf(one_of)
}

/// A product's name as a LocalizedString: each text 1 to 200 characters, not blank.
pub fn localized_name() -> Schema {
    let text = || string(1, rules::NAME_MAX).pattern(Some(NOT_BLANK));
    localized(
        text().build(),
        text(),
        json!({"en": "Espresso cup", "de": "Espressotasse"}),
    )
}

/// A product's description as a LocalizedString, or `null`: each text at most 5000
/// characters.
pub fn localized_description() -> Schema {
    localized(
        optional_text(rules::DESCRIPTION_MAX),
        string(0, rules::DESCRIPTION_MAX).pattern(Some(STORABLE)),
        json!({"en": "Porcelain, 90 ml"}),
    )
}

/// Attributes: strings on a product without a type; on a typed one, each value as its
/// definition says (`text`, `enum` and `date` as strings, `number`, `boolean`, `ltext` as a
/// LocalizedString).
pub fn typed_attributes() -> Object {
    let value = OneOfBuilder::new()
        .item(string(0, rules::ATTRIBUTE_VALUE_MAX).pattern(Some(STORABLE)))
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(per_locale(
            string(0, rules::ATTRIBUTE_VALUE_MAX).pattern(Some(STORABLE)),
        ))
        .build();
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Object,
            Type::Null,
        ]))
        .max_properties(Some(catalog_domain::product_type::TYPE_ATTRIBUTES_MAX))
        .property_names(Some(
            string(1, rules::ATTRIBUTE_KEY_MAX).pattern(Some(STORABLE)),
        ))
        .additional_properties(Some(RefOr::T(Schema::OneOf(value))))
        .description(Some(
            "Replaced whole, never merged. Without a type: strings, at most 50 entries. With a \
             type: its attributes, each value as its definition says.",
        ))
        .examples([json!({"color": "white"})])
        .build()
}

/// A type key, or `null` for none (an untyped product): what a ProductView's `type` holds, so
/// a client may send back what it read.
pub fn optional_type_key() -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .min_length(Some(1))
        .max_length(Some(catalog_domain::product_type::TYPE_KEY_MAX))
        .pattern(Some(catalog_domain::product_type::TYPE_KEY_PATTERN))
        .examples([json!("mug")])
        .build()
}

/// A details update must name at least one field it changes (else 422).
pub(crate) struct UpdateNeedsAField;

impl Modify for UpdateNeedsAField {
    fn modify(&self, openapi: &mut Document) {
        let Some(RefOr::T(Schema::Object(update))) = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("UpdateDetails"))
        else {
            return;
        };
        let any_of: Vec<_> = DetailField::ALL
            .iter()
            .map(|field| json!({"required": [field.name()]}))
            .collect();
        update
            .extensions
            .get_or_insert_with(Default::default)
            .insert("anyOf".into(), any_of.into());
    }
}

/// The media types an upload's `file` may be: recognised by their bytes, whatever the part's
/// Content-Type says.
pub const IMAGE_TYPES: &str = "image/jpeg, image/png, image/webp, image/gif";

/// An upload is the part `file` only (other parts are ignored), holding one of [`IMAGE_TYPES`].
/// utoipa's attributes can state neither, so they are added here.
pub(crate) struct UploadIsAnImage;

impl Modify for UploadIsAnImage {
    fn modify(&self, openapi: &mut Document) {
        if let Some(RefOr::T(Schema::Object(upload))) = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("ImageUpload"))
        {
            upload.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
        let multipart = openapi
            .paths
            .paths
            .get_mut("/products/{id}/images")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut())
            .and_then(|body| body.content.get_mut("multipart/form-data"));
        if let Some(multipart) = multipart {
            let mut file = Encoding::default();
            file.content_type = Some(IMAGE_TYPES.to_string());
            multipart.encoding.insert("file".to_string(), file);
        }
    }
}
