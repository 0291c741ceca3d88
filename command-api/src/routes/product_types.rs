//! `PUT /product-types/{key}` (scope `catalog:admin`): define a product type, created the
//! first time, changed compatibly after. A PUT is idempotent by nature (the same definition
//! twice writes nothing the second time), so this route takes no `Idempotency-Key`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use catalog_domain::{AttributeDefinition, DefineProductType};
use catalog_support::http::etag;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{JsonBody, RequestContext};
use crate::openapi as doc;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/product-types/{key}", put(define))
}

/// A product type: a name and the attributes its products are checked against.
#[derive(Deserialize, ToSchema)]
#[schema(as = DefineProductType)]
pub(crate) struct DefineBody {
    /// 1 to 200 characters, not all white space.
    #[schema(value_type = String, schema_with = doc::name)]
    name: Option<String>,
    /// At most 100; names unique within the type.
    #[schema(value_type = Vec<AttributeDefinition>, max_items = 100)]
    attributes: Option<Vec<AttributeDefinition>>,
}

/// `{key, version}`: the type and its version after the definition.
#[derive(Serialize, ToSchema)]
pub(crate) struct TypeDefined {
    key: String,
    #[schema(minimum = 1)]
    version: u64,
}

/// Define a product type.
#[utoipa::path(
    put,
    path = "/product-types/{key}",
    tag = "product-types",
    operation_id = "defineProductType",
    params(("key" = String, Path, description = "The type's key", pattern = "^[a-z0-9-]{1,64}$")),
    request_body = DefineBody,
    responses(
        (status = 201, description = "Created at version 1", body = TypeDefined, headers(
            ("ETag" = String, description = "`\"<version>\"`"),
        )),
        (status = 200, description = "Changed compatibly, or already so (nothing written)",
         body = TypeDefined, headers(
            ("ETag" = String, description = "`\"<version>\"`"),
        )),
        doc::TypeErrors,
    ),
    security(("bearer" = ["catalog:admin"])),
)]
pub(crate) async fn define(
    State(app): State<AppState>,
    Path(key): Path<String>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<DefineBody>,
) -> Result<Response, ApiError> {
    let define = DefineProductType {
        key: key.clone(),
        // A missing name is reported by the name rule with the rest.
        name: body.name.unwrap_or_default(),
        attributes: body.attributes.unwrap_or_default(),
    };
    let defined = app.store.types().define(define, &ctx.metadata()).await?;
    let status = if defined.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (
        status,
        Json(TypeDefined {
            key,
            version: defined.version,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(defined.version));
    Ok(response)
}
