//! The OpenAPI 3.1 document of query-api, generated from the handlers' `#[utoipa::path]`
//! attributes and the view types' `ToSchema` derives (`catalog_domain`'s `openapi` feature),
//! served at `GET /openapi.json` with Swagger UI at `GET /docs` (`catalog_support::openapi`).
//! Handlers read their query strings themselves (every bad parameter is reported in one 422);
//! the parameter types here only describe them.

use catalog_domain::ProductStatus;
use utoipa::{IntoParams, ToSchema};

pub use catalog_support::openapi::BEARER;

catalog_support::problem_set!(
    /// What reading a product's history can answer besides its success.
    pub HistoryErrors = [401, 403, 404, 422, 503]
);
catalog_support::problem_set!(
    /// What the export can answer besides its success.
    pub ExportErrors = [503]
);
catalog_support::problem_set!(
    /// What reading the change feed can answer besides its success.
    pub FeedErrors = [401, 403, 422, 503]
);
catalog_support::problem_set!(
    /// What opening the change feed's stream can answer besides its success.
    pub StreamErrors = [401, 403, 422, 429, 503]
);
catalog_support::problem_set!(
    /// What reading a past version can answer besides its success.
    pub VersionErrors = [401, 403, 404, 422, 503]
);
catalog_support::problem_set!(
    /// What reading one product can answer besides its success.
    pub ProductErrors = [404, 422, 503]
);
catalog_support::problem_set!(
    /// What listing products can answer besides its success.
    pub ListErrors = [422, 503]
);
catalog_support::problem_set!(
    /// What reading a rendition can answer besides its success.
    pub RenditionErrors = [404, 503]
);
catalog_support::problem_set!(
    /// What signing in can answer besides its success (401 alike for an unknown email and a
    /// wrong password; 429 after five failures for the email within 15 minutes).
    pub SignInErrors = [401, 422, 429, 503]
);
catalog_support::problem_set!(
    /// What reading the current session can answer besides its success.
    pub SessionErrors = [401, 503]
);
catalog_support::problem_set!(
    /// What signing out can answer besides its success (403 without the session's CSRF token).
    pub SignOutErrors = [403, 503]
);
catalog_support::problem_set!(
    /// What listing product types can answer besides its success.
    pub TypeListErrors = [503]
);
catalog_support::problem_set!(
    /// What reading one product type can answer besides its success.
    pub TypeErrors = [404, 503]
);
catalog_support::problem_set!(
    /// What reading the pipeline's status can answer besides its success.
    pub StatusErrors = [503]
);

/// The product read.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // parameters only: handlers read the path as a string (a non-UUID is 404)
pub struct ProductPath {
    /// The product's id.
    #[param(format = Uuid)]
    id: String,
}

/// Parameters of `GET /products/{id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ByIdParams {
    /// Read-your-writes: answer as soon as the read model holds this version or a later one,
    /// waiting up to 2 s; if it has not caught up by then, 503 with `Retry-After: 1`.
    #[param(minimum = 1, nullable = false)]
    min_version: Option<u64>,
}

/// Which locale a localized read answers in (`GET /products`, `/products/{id}`, its versions).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LocaleParams {
    /// The locale to answer in, a BCP 47 tag (e.g. `de-CH`); it wins over `Accept-Language`.
    /// Each text falls back from it to its language, then the default locale, then the lowest
    /// tag the product has. A malformed tag is 422.
    #[param(
        max_length = 35,
        // language, script and region; other well-formed tags (variants, extensions) are
        // accepted too
        pattern = "^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?$",
        nullable = false
    )]
    locale: Option<String>,
}

/// The reader's locales, as browsers send them (with [`LocaleParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct AcceptLanguage {
    /// The locales the reader prefers, with q-values, when `locale` is not given; malformed
    /// entries are passed over. Responses vary by it.
    #[param(rename = "Accept-Language", nullable = false)]
    accept_language: Option<String>,
}

/// The sort order of a list: a field, descending with a leading `-`.
#[derive(ToSchema)]
#[schema(as = ProductSort)]
#[allow(dead_code)]
#[allow(missing_docs)] // a schema for the OpenAPI document: a doc comment would change it
pub enum SortDoc {
    #[schema(rename = "relevance")]
    Relevance,
    #[schema(rename = "name")]
    Name,
    #[schema(rename = "-name")]
    NameDescending,
    #[schema(rename = "price")]
    Price,
    #[schema(rename = "-price")]
    PriceDescending,
    #[schema(rename = "updated")]
    Updated,
    #[schema(rename = "-updated")]
    UpdatedDescending,
}

/// Parameters of `GET /products`. A bad one is 422, every bad one listed in `errors`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// Only products in this status; without it, archived products are left out.
    #[param(inline, nullable = false)]
    status: Option<ProductStatus>,
    /// Only products in this category (exact).
    #[param(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000]*$",
        nullable = false
    )]
    category: Option<String>,
    /// Full-text search over SKU, name (any locale) and description (web-search syntax: words,
    /// `"phrases"`, `-excluded`, `or`): 1 to 200 characters, not all white space. Forgives
    /// typos: a word of 4 to 7 letters matches words within one edit of it, one of 8 or more
    /// within two; words with digits match as written. Sorted by relevance unless `sort` says
    /// otherwise: products matching the text as written first.
    #[param(
        min_length = 1,
        max_length = 200,
        // catalog_support::openapi::NOT_BLANK (an attribute takes only a literal; a test compares)
        pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$",
        nullable = false
    )]
    q: Option<String>,
    /// The product holding this exact SKU on any of its variants.
    #[param(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9._-]+$",
        nullable = false
    )]
    sku: Option<String>,
    /// Lowest base price of the master, in minor units (with `max_price`: not above it).
    #[param(minimum = 0, maximum = 1_000_000_000_000_i64, nullable = false)]
    min_price: Option<i64>,
    /// Highest base price of the master, in minor units.
    #[param(minimum = 0, maximum = 1_000_000_000_000_i64, nullable = false)]
    max_price: Option<i64>,
    /// Only products whose base price is in this currency (three upper-case letters); also
    /// the currency the items' prices are selected in.
    #[param(pattern = "^[A-Z]{3}$", nullable = false)]
    currency: Option<String>,
    /// Default `-updated` (most recently changed first); with `q`, `relevance` (without `q`,
    /// `relevance` is the default order).
    #[param(inline, nullable = false)]
    sort: Option<SortDoc>,
    /// Products per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, nullable = false)]
    limit: Option<u32>,
    /// Opaque: the `next_cursor` of the previous page, made for the same `sort`.
    #[param(nullable = false)]
    cursor: Option<String>,
    /// Only products of this product type (its key). Filters on attributes take
    /// `attr.<name>=<value>` (repeat it for any of several values; a string, number or boolean
    /// attribute of the product or of any of its variants) and `attr.<name>.min` /
    /// `attr.<name>.max` (numbers, inclusive); different attributes must all match.
    #[param(rename = "type", pattern = "^[a-z0-9-]{1,64}$", nullable = false)]
    product_type: Option<String>,
    /// Comma-separated facets to count over every product the list selects: `category`,
    /// `status`, `type`, and `attr.<name>` for an attribute some product type marks
    /// `facet: true` (any other: 422).
    #[param(
        pattern = "^(category|status|type)(,(category|status|type))*$",
        nullable = false
    )]
    facets: Option<String>,
}

/// One value of a facet and how many of the list's products hold it.
#[derive(ToSchema)]
#[schema(as = FacetValue)]
#[allow(dead_code)]
pub struct FacetValueDoc {
    /// As the products hold it: a string, a number or a boolean.
    #[schema(value_type = catalog_domain::AttributeValue)]
    value: serde_json::Value,
    /// The products holding it, each counted once.
    #[schema(minimum = 1)]
    count: i64,
}

/// How every variant's `price` is selected (with `currency`, of [`CurrencyParams`] or a
/// list's): among its prices in the currency valid at `at`, those for `channel` if any, else
/// those for every channel; a dated price wins over the undated one.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SelectionParams {
    /// The sales channel whose prices win over those for every channel.
    #[param(pattern = "^[a-z0-9-]{1,64}$", nullable = false)]
    channel: Option<String>,
    /// The instant the prices must be valid at, RFC 3339 (default now).
    #[param(format = DateTime, nullable = false)]
    at: Option<String>,
}

/// The currency a product's prices are selected in (default: its first price's).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CurrencyParams {
    /// Three upper-case letters.
    #[param(pattern = "^[A-Z]{3}$", nullable = false)]
    currency: Option<String>,
}

/// Parameters of `GET /products/{id}/history`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HistoryParams {
    /// Events after this sequence number (default 0: from the first).
    #[param(minimum = 0, nullable = false)]
    after: Option<i64>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    limit: Option<u32>,
}

/// The event types a reader may filter on: every stored type's name.
fn event_types() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(catalog_domain::event_type_names())),
        )
        .build()
}

/// Which events of the change feed, and from where.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FeedParams {
    /// Events after this position (default 0: from the first).
    #[param(minimum = 0, nullable = false)]
    after: Option<i64>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    limit: Option<u32>,
    /// Only these event types, comma-separated (`StockAdjusted,PriceChanged`); all when absent.
    #[param(style = Form, explode = false, schema_with = event_types)]
    types: Option<Vec<String>>,
    /// Only this product's events.
    #[param(nullable = false)]
    product_id: Option<uuid::Uuid>,
}

/// Which events the stream sends, and from where; `Last-Event-ID` takes the place of `after`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StreamParams {
    /// Events after this position (default 0: from the first).
    #[param(minimum = 0, nullable = false)]
    after: Option<i64>,
    /// Only these event types, comma-separated (`StockAdjusted,PriceChanged`); all when absent.
    #[param(style = Form, explode = false, schema_with = event_types)]
    types: Option<Vec<String>>,
    /// Only this product's events.
    #[param(nullable = false)]
    product_id: Option<uuid::Uuid>,
}

/// The version of a product: its number of events.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct VersionPath {
    /// The event after which to show the product (1 is the product as created).
    #[param(minimum = 1)]
    n: u64,
}

/// The bytes of an image.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct ImageBytes(Vec<u8>);

/// A rendition file name: `<size>.<format>`.
#[derive(ToSchema)]
#[schema(as = RenditionFile)]
#[allow(dead_code)]
#[allow(missing_docs)] // a schema for the OpenAPI document: a doc comment would change it
pub enum RenditionFileDoc {
    #[schema(rename = "thumb.webp")]
    ThumbWebp,
    #[schema(rename = "thumb.jpg")]
    ThumbJpg,
    #[schema(rename = "small.webp")]
    SmallWebp,
    #[schema(rename = "small.jpg")]
    SmallJpg,
    #[schema(rename = "medium.webp")]
    MediumWebp,
    #[schema(rename = "medium.jpg")]
    MediumJpg,
    #[schema(rename = "large.webp")]
    LargeWebp,
    #[schema(rename = "large.jpg")]
    LargeJpg,
}

/// The rendition read.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct RenditionPath {
    /// The image's id, as in the product's `images`.
    #[param(format = Uuid)]
    image_id: String,
    /// Which rendition, in which format (the `url` of a rendition names the WebP one).
    #[param(inline)]
    file: RenditionFileDoc,
}

#[cfg(test)]
mod tests {
    use crate::routes::document;

    #[test]
    fn text_patterns_are_the_shared_ones() {
        let document = serde_json::to_value(document()).unwrap();
        let parameters = document["paths"]["/products"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let pattern = |name: &str| {
            parameters.iter().find(|p| p["name"] == name).unwrap()["schema"]["pattern"].clone()
        };
        assert_eq!(pattern("q"), catalog_support::openapi::NOT_BLANK);
        assert_eq!(pattern("category"), catalog_support::openapi::STORABLE);
    }

    /// Attributes take only literals; these are the rules' own limits, compared here.
    #[test]
    fn parameter_limits_are_the_rules_own() {
        use catalog_domain::money::MAX_AMOUNT;
        use catalog_domain::rules::CATEGORY_MAX;
        use catalog_read_model::listing::{PAGE_MAX, Q_MAX};

        use crate::routes::audit::HISTORY_PAGE_MAX;

        let document = serde_json::to_value(document()).unwrap();
        let schema = |path: &str, name: &str| {
            document["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()["schema"]
                .clone()
        };
        assert_eq!(schema("/products", "category")["maxLength"], CATEGORY_MAX);
        assert_eq!(schema("/products", "q")["maxLength"], Q_MAX);
        assert_eq!(schema("/products", "limit")["maximum"], PAGE_MAX);
        assert_eq!(schema("/products", "min_price")["maximum"], MAX_AMOUNT);
        assert_eq!(schema("/products", "max_price")["maximum"], MAX_AMOUNT);
        assert_eq!(
            schema("/products/{id}/history", "limit")["maximum"],
            HISTORY_PAGE_MAX
        );
    }
}
