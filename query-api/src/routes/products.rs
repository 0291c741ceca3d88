use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use catalog_domain::ProductView;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::openapi::{
    self as doc, AcceptLanguage, ByIdParams, CurrencyParams, ListParams, LocaleParams, ProductPath,
    SelectionParams,
};
use crate::routes::product_types;
use crate::state::AppState;
use crate::{locale, prices};
use catalog_read_model::facets::FacetValue;
use catalog_read_model::listing::{self, ListQuery};
use catalog_support::http::etag;
use catalog_support::problem::{CommonError, FieldViolation};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", get(list))
        .route("/products/{id}", get(one))
}

/// True if `If-None-Match` names the current version (or is `*`).
fn not_modified(headers: &HeaderMap, version: u64) -> bool {
    let Some(value) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let current = format!("\"{version}\"");
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
}

fn min_version(raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if name == "min_version" {
            return value
                .parse::<u64>()
                .ok()
                .filter(|v| *v >= 1)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::from(CommonError::invalid(
                        "min_version",
                        "must be a positive integer",
                    ))
                });
        }
    }
    Ok(None)
}

/// One product, from the read model.
#[utoipa::path(
    get,
    path = "/products/{id}",
    tag = "products",
    operation_id = "getProduct",
    params(ProductPath, ByIdParams, CurrencyParams, SelectionParams, LocaleParams, AcceptLanguage, ("If-None-Match" = Option<String>, Header, nullable = false,
        description = "The product's ETag (`\"<version>\"`, a list of tags, or `*`): 304 \
        without a body if it names the current version")),
    responses(
        (status = 200, description = "The product", body = ProductView, headers(
            ("ETag" = String, description = "`\"<version>\"`: the product's version"),
            ("Cache-Control" = String, description = "`no-cache`: keep, but revalidate"),
        )),
        (status = 304, description = "`If-None-Match` names the current version", headers(
            ("ETag" = String, description = "`\"<version>\"`: the product's version"),
            ("Cache-Control" = String, description = "`no-cache`: keep, but revalidate"),
        )),
        doc::ProductErrors,
    ),
)]
pub(crate) async fn one(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (locale, selection) =
        prices::wanted(query.as_deref(), &headers, &app.config.default_locale)?;
    let wanted = min_version(query.as_deref())?;
    let Ok(id) = uuid::Uuid::parse_str(&id).map(|u| u.hyphenated().to_string()) else {
        return Err(ApiError::from(CommonError::NotFound("product not found")));
    };
    let view = match wanted {
        None => app.reader.get(&id).await?,
        Some(version) => {
            app.versions
                .wait_for(&app.reader, &id, version, app.config.min_version_wait)
                .await?
        }
    };
    let document = view.ok_or(ApiError::from(CommonError::NotFound("product not found")))?;
    let mut response = if not_modified(&headers, document.version) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        // The stored bytes as they are, rendered in the default locale with undated prices: a
        // hot read of them serializes nothing. Another locale is rendered from the document's
        // translations, other prices from its price lists.
        let body = if locale.is_default() && prices::stored_prices_serve(&selection, document.dated)
        {
            document.body
        } else {
            let mut view: ProductView = serde_json::from_slice(&document.body)
                .map_err(|e| ApiError::from(anyhow::anyhow!("stored document unreadable: {e}")))?;
            view.localize(&locale);
            view.select_prices(&selection);
            Bytes::from(serde_json::to_vec(&view).expect("a view serialises"))
        };
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(locale::VARY.0, locale::VARY.1);
    headers.insert(header::ETAG, etag(document.version));
    // Clients and caches may keep a copy but must revalidate it: the ETag makes that cheap.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// One page of products.
#[derive(Serialize, ToSchema)]
#[schema(as = ProductPage)]
pub(crate) struct Page {
    items: Vec<ProductView>,
    /// The `cursor` of the next page; `null` on the last one.
    next_cursor: Option<String>,
    /// With `q`, on a first page, when no product matches the text as written: the text
    /// with its unknown words replaced by the nearest the catalog has, when that matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    did_you_mean: Option<String>,
    /// With `facets`: each facet asked for, by name (`category`, `attr.color`, …), with its
    /// values' counts over every product the list selects, the most common first (at most
    /// 100 values each).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, Vec<doc::FacetValueDoc>>>)]
    facets: Option<BTreeMap<String, Vec<FacetValue>>>,
}

/// Products: filtered, searched, sorted, a page at a time (keyset pagination: no item is skipped
/// or repeated while products change).
#[utoipa::path(
    get,
    path = "/products",
    tag = "products",
    operation_id = "listProducts",
    params(ListParams, SelectionParams, LocaleParams, AcceptLanguage),
    responses(
        (status = 200, description = "A page of products", body = Page, links(
            ("NextPage" = (operation_id = "listProducts", parameters(
                ("cursor" = "$response.body#/next_cursor"),
                ("sort" = "$request.query.sort"),
            ))),
        )),
        doc::ListErrors,
    ),
)]
pub(crate) async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let locale = locale::wanted(query.as_deref(), &headers, &app.config.default_locale);
    let selection = prices::selection(query.as_deref());
    let parsed = ListQuery::parse(query.as_deref());
    let (locale, selection, query) = match (locale, selection, parsed) {
        (Ok(locale), Ok(selection), Ok(query)) => (locale, selection, query),
        (locale, selection, parsed) => {
            // Every bad parameter at once, the locale's and the prices' among them; `currency`
            // is both a filter and a selection, and is reported once.
            let mut errors = parsed.err().unwrap_or_default();
            errors.extend(locale.err());
            for error in selection.err().unwrap_or_default() {
                if !errors.iter().any(|e| e.field == error.field) {
                    errors.push(error);
                }
            }
            return Err(CommonError::Validation(errors).into());
        }
    };
    let facets: Vec<&str> = query.narrowing().facet_attributes().collect();
    if !facets.is_empty() {
        let known = product_types::facet_attributes(&app).await?;
        let errors: Vec<FieldViolation> = facets
            .iter()
            .filter(|name| !known.contains(**name))
            .map(|name| FieldViolation {
                field: "facets".to_string(),
                message: format!(
                    "attr.{name} is not a facet: no product type marks an attribute {name} \
                     `facet: true`"
                ),
            })
            .collect();
        if !errors.is_empty() {
            return Err(CommonError::Validation(errors).into());
        }
    }
    let listing::Page {
        mut items,
        next_cursor,
        did_you_mean,
        facets,
    } = query
        .run(&app.lists, app.facets.as_deref())
        .await
        .map_err(CommonError::database)?;
    for item in &mut items {
        if !locale.is_default() {
            item.localize(&locale);
        }
        item.select_prices(&selection);
    }
    let mut response = Json(Page {
        items,
        next_cursor,
        did_you_mean,
        facets,
    })
    .into_response();
    response
        .headers_mut()
        .insert(locale::VARY.0, locale::VARY.1);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let mut headers = HeaderMap::new();
        assert!(!not_modified(&headers, 3));
        for (value, expected) in [
            ("\"3\"", true),
            ("W/\"3\"", true),
            ("\"1\", \"3\"", true),
            ("*", true),
            ("\"2\"", false),
            ("3", false),
        ] {
            headers.insert(header::IF_NONE_MATCH, value.parse().unwrap());
            assert_eq!(not_modified(&headers, 3), expected, "{value}");
        }
    }
}
