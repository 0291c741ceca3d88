//! The variant and price-list commands of the HTTP contract (Catalog 2, "Variants" and
//! "Prices"). A new variant's SKU is reserved in the SKU registry before its event is stored,
//! as a create's is; a removed variant's is released.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{patch, post, put};
use axum::Router;
use catalog_domain::{AddVariant, Attributes, Money, Price, ProductCommand, ProductEvent, MASTER};
use catalog_store::repository::StoreError;
use catalog_support::problem::CommonError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::products::{done, product_id, run, Missing, StockBody};
use crate::error::ApiError;
use crate::extract::{IfMatch, JsonBody, RequestContext};
use crate::openapi::{self as doc, CommandHeaders, ProductPath};
use crate::respond::{accepted, variant_added, Done, VariantAdded};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products/{id}/variants", post(add))
        .route(
            "/products/{id}/variants/{variant_id}",
            patch(change).delete(remove),
        )
        .route(
            "/products/{id}/variants/{variant_id}/stock-adjustments",
            post(adjust_stock),
        )
        .route(
            "/products/{id}/variants/{variant_id}/prices",
            put(set_prices),
        )
        .route("/products/{id}/prices", put(set_master_prices))
}

/// The variant a command is for.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // parameters only: handlers read the path as strings
pub struct VariantPath {
    /// `master`, or the id `POST /products/{id}/variants` answered.
    variant_id: String,
}

/// A price of a list. Without `channel` it applies to every channel; without `valid_from`
/// or `valid_until` its window is open at that end.
#[derive(Deserialize, ToSchema)]
#[schema(as = Price)]
pub(crate) struct PriceBody {
    #[schema(value_type = i64, minimum = 0, maximum = 1_000_000_000_000_i64, example = 1999)]
    amount: Option<i64>,
    #[schema(value_type = String, schema_with = doc::currency)]
    currency: Option<String>,
    /// The sales channel: `[a-z0-9-]{1,64}`.
    #[schema(pattern = "^[a-z0-9-]{1,64}$", nullable = false)]
    channel: Option<String>,
    /// RFC 3339; the price applies from this instant (inclusive).
    #[schema(format = DateTime, nullable = false)]
    valid_from: Option<String>,
    /// RFC 3339, after `valid_from`; the price applies until this instant (exclusive).
    #[schema(format = DateTime, nullable = false)]
    valid_until: Option<String>,
}

/// A variant's whole price list: at most 100 prices; per currency and channel at most one
/// undated price and dated ones whose windows do not overlap. The master's first price is
/// its base price (undated, without channel): v1's `price`.
#[derive(Deserialize, ToSchema)]
#[schema(as = PriceList)]
pub(crate) struct PricesBody {
    #[schema(value_type = Vec<PriceBody>, max_items = 100)]
    prices: Option<Vec<PriceBody>>,
}

/// A new variant.
#[derive(Deserialize, ToSchema)]
#[schema(as = NewVariant)]
pub(crate) struct AddBody {
    /// Unique across every variant of every product not archived (409 `sku-taken`).
    #[schema(value_type = String, schema_with = doc::sku)]
    sku: Option<String>,
    /// Its variant-level attributes: the type's `level: "variant"` ones (required ones
    /// required); strings on an untyped product. No two variants of a product hold the same
    /// values (409 `duplicate-variant`).
    #[schema(value_type = Option<BTreeMap<String, String>>, schema_with = doc::typed_attributes)]
    attributes: Option<Attributes>,
    /// Its price list (default none).
    #[schema(value_type = Option<Vec<PriceBody>>, max_items = 100)]
    prices: Option<Vec<PriceBody>>,
    /// Units in stock (default 0).
    #[schema(minimum = 0)]
    stock: Option<i64>,
}

/// A variant's new variant-level attributes, replacing the current ones whole.
#[derive(Deserialize, ToSchema)]
#[schema(as = VariantChange)]
pub(crate) struct ChangeBody {
    #[schema(value_type = BTreeMap<String, String>, schema_with = doc::typed_attributes)]
    attributes: Option<Attributes>,
}

impl Missing {
    /// The prices of a list as the domain takes them; each missing or unreadable field is
    /// reported as `<field>[i].<name>`.
    pub(crate) fn prices(&mut self, field: &str, prices: Vec<PriceBody>) -> Vec<Price> {
        prices
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let at = format!("{field}[{i}]");
                let mut instant = |name: &str, value: Option<String>| {
                    let parsed = DateTime::parse_from_rfc3339(&value?);
                    if parsed.is_err() {
                        self.invalid(&format!("{at}.{name}"), "must be an RFC 3339 date-time");
                    }
                    parsed.ok().map(|t| t.with_timezone(&Utc))
                };
                let valid_from = instant("valid_from", body.valid_from);
                let valid_until = instant("valid_until", body.valid_until);
                Price {
                    money: Money {
                        amount: self.take(&format!("{at}.amount"), body.amount),
                        currency: self.take(&format!("{at}.currency"), body.currency),
                    },
                    channel: body.channel,
                    valid_from,
                    valid_until,
                }
            })
            .collect()
    }
}

/// Add a variant to a product.
#[utoipa::path(
    post,
    path = "/products/{id}/variants",
    tag = "variants",
    operation_id = "addVariant",
    params(ProductPath, CommandHeaders),
    request_body = AddBody,
    responses(
        (status = 201, description = "Added", body = VariantAdded, headers(
            ("Location" = String, description = "`/products/{id}`: the product, which lists the variant"),
            ("ETag" = String, description = "`\"<version>\"`: the product's version after the command"),
            ("Idempotent-Replayed" = bool, description = "`true` on a replay of a stored response"),
        )),
        doc::BodyCommandErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
#[tracing::instrument(skip_all, fields(sku))]
pub(crate) async fn add(
    State(app): State<AppState>,
    Path(id): Path<String>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<Response, ApiError> {
    let id = product_id(&id)?;
    let mut missing = Missing::default();
    let add = AddVariant {
        variant_id: Uuid::now_v7().to_string(),
        sku: missing.take("sku", body.sku),
        attributes: body.attributes.unwrap_or_default(),
        prices: missing.prices("prices", body.prices.unwrap_or_default()),
        stock: body.stock.unwrap_or(0),
    };
    let (sku, variant_id) = (add.sku.clone(), add.variant_id.clone());
    let command = ProductCommand::AddVariant(add);
    // Checked before the SKU is reserved, so a request the product refuses never touches
    // the registry.
    missing.check(app.store.check(&id, &command).await)?;
    tracing::Span::current().record("sku", sku.as_str());
    if !app
        .skus
        .reserve(&sku, &id)
        .await
        .map_err(CommonError::database)?
    {
        return Err(ApiError::SkuTaken(sku));
    }
    let expected = if_match.map(|m| m.0);
    match app
        .store
        .execute(&id, command, expected, &ctx.metadata())
        .await
    {
        Ok(committed) => Ok(variant_added(id, committed.version, variant_id)),
        Err(err) => {
            // As after a failed create: released unless the connection failed, when the
            // commit may have stored the event (the reservation is reclaimed 30 s on if not).
            if !matches!(err, StoreError::Unavailable) {
                app.skus.release(&sku, &id).await;
            }
            Err(err.into())
        }
    }
}

/// Replace a variant's variant-level attributes (the master's too).
#[utoipa::path(
    patch,
    path = "/products/{id}/variants/{variant_id}",
    tag = "variants",
    operation_id = "changeVariant",
    params(ProductPath, VariantPath, CommandHeaders),
    request_body = ChangeBody,
    responses(Done, doc::BodyCommandErrors),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn change(
    State(app): State<AppState>,
    Path((id, variant_id)): Path<(String, String)>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<ChangeBody>,
) -> Result<Response, ApiError> {
    let mut missing = Missing::default();
    let attributes = missing.take("attributes", body.attributes);
    missing.check(Ok(()))?;
    let command = ProductCommand::ChangeVariant {
        variant_id,
        attributes,
    };
    done(&app, &id, command, if_match, &ctx).await
}

/// Remove a variant; its SKU is free again. The master cannot be removed (409
/// `master-variant`).
#[utoipa::path(
    delete,
    path = "/products/{id}/variants/{variant_id}",
    tag = "variants",
    operation_id = "removeVariant",
    params(ProductPath, VariantPath, CommandHeaders),
    responses(Done, doc::CommandErrors),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn remove(
    State(app): State<AppState>,
    Path((id, variant_id)): Path<(String, String)>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
) -> Result<Response, ApiError> {
    let command = ProductCommand::RemoveVariant { variant_id };
    let (id, committed) = run(&app, &id, command, if_match, &ctx).await?;
    for envelope in &committed.events {
        if let ProductEvent::VariantRemoved { sku, .. } = &envelope.payload {
            app.skus.release(sku, &id).await;
        }
    }
    Ok(accepted(StatusCode::OK, &id, committed.version))
}

/// Adjust a variant's stock (the master's is v1's `stock`).
#[utoipa::path(
    post,
    path = "/products/{id}/variants/{variant_id}/stock-adjustments",
    tag = "variants",
    operation_id = "adjustVariantStock",
    params(ProductPath, VariantPath, CommandHeaders),
    request_body = StockBody,
    responses(Done, doc::BodyCommandErrors),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn adjust_stock(
    State(app): State<AppState>,
    Path((id, variant_id)): Path<(String, String)>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<StockBody>,
) -> Result<Response, ApiError> {
    let command = body.into_command(variant_id)?;
    done(&app, &id, command, if_match, &ctx).await
}

/// Replace a variant's whole price list.
#[utoipa::path(
    put,
    path = "/products/{id}/variants/{variant_id}/prices",
    tag = "variants",
    operation_id = "setVariantPrices",
    params(ProductPath, VariantPath, CommandHeaders),
    request_body = PricesBody,
    responses(Done, doc::BodyCommandErrors),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn set_prices(
    State(app): State<AppState>,
    Path((id, variant_id)): Path<(String, String)>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<PricesBody>,
) -> Result<Response, ApiError> {
    replace_prices(&app, id, variant_id, if_match, &ctx, body).await
}

/// Replace the master's whole price list: its first price is its base price (undated, without
/// channel), v1's `price`.
#[utoipa::path(
    put,
    path = "/products/{id}/prices",
    tag = "variants",
    operation_id = "setPrices",
    params(ProductPath, CommandHeaders),
    request_body = PricesBody,
    responses(Done, doc::BodyCommandErrors),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn set_master_prices(
    State(app): State<AppState>,
    Path(id): Path<String>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<PricesBody>,
) -> Result<Response, ApiError> {
    replace_prices(&app, id, MASTER.to_string(), if_match, &ctx, body).await
}

async fn replace_prices(
    app: &AppState,
    id: String,
    variant_id: String,
    if_match: Option<IfMatch>,
    ctx: &RequestContext,
    body: PricesBody,
) -> Result<Response, ApiError> {
    let mut missing = Missing::default();
    let prices = missing.take("prices", body.prices);
    let prices = missing.prices("prices", prices);
    let command = ProductCommand::SetPrices { variant_id, prices };
    if !missing.0.is_empty() {
        // Reported with every rule the rest of the list breaks, as one 422.
        let id = product_id(&id)?;
        missing.check(app.store.check(&id, &command).await)?;
    }
    done(app, &id, command, if_match, ctx).await
}
