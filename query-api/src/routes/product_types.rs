//! Product types, public: every type, or one by key, with its version. Read from the event
//! store on the primary: types are few and small, and an administrator who just defined one
//! reads it back at once.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use catalog_domain::{AttributeDefinition, ProductType};
use catalog_store::log;
use catalog_support::http::etag;
use catalog_support::problem::CommonError;
use cqrs_es::Aggregate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::openapi as doc;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/product-types", get(list))
        .route("/product-types/{key}", get(one))
}

/// A product type: the attributes its products are checked against.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductTypeView {
    #[schema(pattern = "^[a-z0-9-]{1,64}$")]
    key: String,
    name: String,
    attributes: Vec<AttributeDefinition>,
    /// The number of changes the type has had: its `ETag`.
    #[schema(minimum = 1)]
    version: u64,
}

/// Every product type.
#[derive(Serialize, ToSchema)]
#[schema(as = ProductTypeList)]
pub(crate) struct TypeList {
    items: Vec<ProductTypeView>,
}

/// The types in the event store (one with `key`), folded, in key order.
async fn read(app: &AppState, key: Option<&str>) -> Result<Vec<ProductTypeView>, ApiError> {
    let events = log::product_type_events(&app.pool, &app.schema, key)
        .await
        .map_err(|err| match err.downcast::<sqlx::Error>() {
            Ok(db) => ApiError::from(CommonError::database(db)),
            Err(other) => ApiError::from(other),
        })?;
    let mut types: BTreeMap<String, (ProductType, u64)> = BTreeMap::new();
    for (key, sequence, event) in events {
        let (product_type, version) = types.entry(key).or_default();
        product_type.apply(event);
        *version = sequence as u64;
    }
    Ok(types
        .into_values()
        .map(|(t, version)| ProductTypeView {
            key: t.key,
            name: t.name,
            attributes: t.attributes,
            version,
        })
        .collect())
}

/// The attributes some product type marks `facet`: the only ones a list counts by.
pub(crate) async fn facet_attributes(
    app: &AppState,
) -> Result<std::collections::BTreeSet<String>, ApiError> {
    Ok(read(app, None)
        .await?
        .into_iter()
        .flat_map(|t| t.attributes)
        .filter(|a| a.facet)
        .map(|a| a.name)
        .collect())
}

/// Every product type, in key order.
#[utoipa::path(
    get,
    path = "/product-types",
    tag = "product-types",
    operation_id = "listProductTypes",
    responses(
        (status = 200, description = "Every product type", body = TypeList),
        doc::TypeListErrors,
    ),
)]
pub(crate) async fn list(State(app): State<AppState>) -> Result<Response, ApiError> {
    let items = read(&app, None).await?;
    Ok(Json(TypeList { items }).into_response())
}

/// One product type.
#[utoipa::path(
    get,
    path = "/product-types/{key}",
    tag = "product-types",
    operation_id = "getProductType",
    params(("key" = String, Path, description = "The type's key", pattern = "^[a-z0-9-]{1,64}$")),
    responses(
        (status = 200, description = "The product type", body = ProductTypeView, headers(
            ("ETag" = String, description = "`\"<version>\"`: the type's version"),
        )),
        doc::TypeErrors,
    ),
)]
pub(crate) async fn one(
    State(app): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let found = read(&app, Some(&key)).await?.pop();
    let view = found.ok_or(ApiError::from(CommonError::NotFound(
        "product type not found",
    )))?;
    let version = view.version;
    let mut response = Json(view).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::ETAG, etag(version));
    Ok(response)
}
