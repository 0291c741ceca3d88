//! The product commands of the HTTP contract. Each handler turns its request into one domain
//! command; the domain decides, the store appends.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{patch, post, put};
use axum::Router;
use catalog_domain::{
    Attributes, CreateProduct, Money, ProductCommand, ProductError, TextInput, UpdateDetails,
    MASTER,
};
use catalog_support::problem::{CommonError, FieldViolation};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{IfMatch, JsonBody, RequestContext};
use crate::openapi::{self as doc, CommandHeaders, CreateHeaders, ProductPath};
use crate::respond::{accepted, created, Accepted, Done};
use crate::state::AppState;
use catalog_store::event_store::Committed;
use catalog_store::repository::StoreError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", post(create))
        .route("/products/{id}", patch(update_details).delete(archive))
        .route("/products/{id}/price", put(change_price))
        .route("/products/{id}/stock-adjustments", post(adjust_stock))
        .route("/products/{id}/publish", post(publish))
        .route("/products/{id}/unpublish", post(unpublish))
}

/// Product ids are UUIDs; anything else cannot name a product, so it is 404 without a query.
pub(super) fn product_id(raw: &str) -> Result<String, ApiError> {
    Uuid::parse_str(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::from(CommonError::NotFound("product not found")))
}

/// A price: `amount` in minor units (cents for EUR), `currency` an ISO 4217 code.
#[derive(Deserialize, ToSchema)]
#[schema(as = Money)]
pub(crate) struct MoneyBody {
    #[schema(value_type = i64, minimum = 0, maximum = 1_000_000_000_000_i64, example = 1999)]
    amount: Option<i64>,
    #[schema(value_type = String, schema_with = doc::currency)]
    currency: Option<String>,
}

/// A new product. It starts as a `draft`, with stock 0 unless `stock` is given.
#[derive(Deserialize, ToSchema)]
#[schema(as = CreateProduct)]
pub(crate) struct CreateBody {
    #[schema(value_type = String, schema_with = doc::sku)]
    sku: Option<String>,
    /// The key of the product's type, fixed for life: its attributes are checked against the
    /// type's definitions. Without it (or `null`) the product is untyped (v1's free string
    /// attributes).
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>, schema_with = doc::optional_type_key)]
    product_type: Option<String>,
    /// 1 to 200 characters, not all white space, in each locale.
    #[schema(value_type = String, schema_with = doc::localized_name)]
    name: Option<TextInput>,
    #[schema(value_type = Option<String>, schema_with = doc::localized_description)]
    description: Option<TextInput>,
    #[schema(value_type = MoneyBody)]
    price: Option<MoneyBody>,
    /// Units in stock at creation (default 0).
    #[schema(minimum = 0)]
    stock: Option<i64>,
    #[schema(schema_with = doc::category)]
    category: Option<String>,
    #[schema(value_type = Option<BTreeMap<String, String>>, schema_with = doc::typed_attributes)]
    attributes: Option<Attributes>,
    /// The master variant's variant-level attributes (a typed product's `level: "variant"`
    /// ones; strings on an untyped product). Optional, also where the type requires them of
    /// other variants.
    #[schema(value_type = Option<BTreeMap<String, String>>, schema_with = doc::typed_attributes)]
    variant_attributes: Option<Attributes>,
}

/// Collects the required fields a body left out, so that they are reported together with the
/// rules the present fields break.
#[derive(Default)]
pub(crate) struct Missing(pub(crate) Vec<FieldViolation>);

impl Missing {
    pub(crate) fn take<T: Default>(&mut self, field: &str, value: Option<T>) -> T {
        value.unwrap_or_else(|| {
            self.0.push(FieldViolation {
                field: field.to_string(),
                message: "is required".to_string(),
            });
            T::default()
        })
    }

    /// Records a value that cannot be read as the rule of `field` says.
    pub(crate) fn invalid(&mut self, field: &str, message: &str) {
        self.0.push(FieldViolation {
            field: field.to_string(),
            message: message.to_string(),
        });
    }

    pub(crate) fn money(&mut self, prefix: &str, money: Option<MoneyBody>) -> Money {
        let field = |leaf: &str| {
            if prefix.is_empty() {
                leaf.to_string()
            } else {
                format!("{prefix}.{leaf}")
            }
        };
        match money {
            None => Money::new(self.take(prefix, None::<i64>), "EUR"),
            Some(m) => Money {
                amount: self.take(&field("amount"), m.amount),
                currency: self.take(&field("currency"), m.currency),
            },
        }
    }

    /// Runs the domain's own checks on a command built from the body, then reports missing
    /// fields and broken rules in one 422. A rule broken only by a missing field's placeholder
    /// is not reported twice.
    pub(crate) fn check(self, decided: Result<(), StoreError>) -> Result<(), ApiError> {
        let mut errors = self.0;
        match decided {
            Err(StoreError::Refused(ProductError::Invalid(found))) => {
                for e in found {
                    let covered = errors.iter().any(|m| {
                        e.field == m.field || e.field.starts_with(&format!("{}.", m.field))
                    });
                    if !covered {
                        errors.push(FieldViolation {
                            field: e.field,
                            message: e.message,
                        });
                    }
                }
            }
            Err(other) => return Err(other.into()),
            Ok(_) => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::from(CommonError::Validation(errors)))
        }
    }
}

/// Create a product.
#[utoipa::path(
    post,
    path = "/products",
    tag = "products",
    operation_id = "createProduct",
    params(CreateHeaders),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created as a draft at version 1", body = Accepted,
         headers(
            ("Location" = String, description = "`/products/{id}`: the new product"),
            ("ETag" = String, description = "`\"1\"`"),
            ("Idempotent-Replayed" = bool, description = "`true` on a replay of a stored response"),
         ),
         links(
            ("UpdateDetails" = (operation_id = "updateDetails", parameters(("id" = "$response.body#/id")))),
            ("ChangePrice" = (operation_id = "changePrice", parameters(("id" = "$response.body#/id")))),
            ("AdjustStock" = (operation_id = "adjustStock", parameters(("id" = "$response.body#/id")))),
            ("Publish" = (operation_id = "publishProduct", parameters(("id" = "$response.body#/id")))),
            ("Unpublish" = (operation_id = "unpublishProduct", parameters(("id" = "$response.body#/id")))),
            ("Archive" = (operation_id = "archiveProduct", parameters(("id" = "$response.body#/id")))),
            ("UploadImage" = (operation_id = "uploadImage", parameters(("id" = "$response.body#/id")))),
         )),
        doc::CreateErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
#[tracing::instrument(skip_all, fields(sku))]
pub(crate) async fn create(
    State(app): State<AppState>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let mut missing = Missing::default();
    let create = CreateProduct {
        sku: missing.take("sku", body.sku),
        product_type: body.product_type,
        name: missing.take("name", body.name),
        description: body.description,
        category: body.category,
        attributes: body.attributes.unwrap_or_default(),
        price: missing.money("price", body.price),
        stock: body.stock.unwrap_or(0),
        variant_attributes: body.variant_attributes.unwrap_or_default(),
    };
    // Checked before the SKU is reserved, so an invalid request never touches the registry.
    let command = ProductCommand::Create(create.clone());
    missing.check(app.store.check_new(&command).await)?;
    tracing::Span::current().record("sku", create.sku.as_str());

    let id = Uuid::now_v7().to_string();
    let sku = create.sku.clone();
    if !app
        .skus
        .reserve(&sku, &id)
        .await
        .map_err(CommonError::database)?
    {
        return Err(ApiError::SkuTaken(sku));
    }
    let result = app.store.execute(&id, command, None, &ctx.metadata()).await;
    match result {
        Ok(committed) => Ok(created(&id, committed.version)),
        Err(err) => {
            // Compensation: the event was not stored, so the SKU must not stay taken. Unless
            // the connection failed: a commit whose answer was lost with it may have stored the
            // event. That reservation stays, and is reclaimed 30 s on if no product holds it.
            if !matches!(err, StoreError::Unavailable) {
                app.skus.release(&sku, &id).await;
            }
            Err(err.into())
        }
    }
}

/// Deserializes a present field as `Some(value)`, so `null` (clear) and absent (keep) differ.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// New details: at least one of the fields. An absent field is kept; `null` clears
/// `description`, `category` or `attributes`.
#[derive(Deserialize, ToSchema)]
#[schema(as = UpdateDetails)]
pub(crate) struct UpdateBody {
    /// 1 to 200 characters, not all white space, in each locale; never `null`. Replaces
    /// every locale's text.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, schema_with = doc::localized_name)]
    name: Option<Option<TextInput>>,
    /// Replaces every locale's text; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, schema_with = doc::localized_description)]
    description: Option<Option<TextInput>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, schema_with = doc::category)]
    category: Option<Option<String>>,
    /// Replaces every attribute.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, String>>, schema_with = doc::typed_attributes)]
    attributes: Option<Option<Attributes>>,
    /// A product's type is fixed at creation: naming it here is refused (422).
    #[serde(rename = "type", default, deserialize_with = "present")]
    #[schema(ignore)]
    product_type: Option<Option<serde_json::Value>>,
}

/// Runs `command` on product `raw_id` and answers 200 `{id, version}`: every command on an
/// existing product that answers nothing else.
pub(super) async fn done(
    app: &AppState,
    raw_id: &str,
    command: ProductCommand,
    if_match: Option<IfMatch>,
    ctx: &RequestContext,
) -> Result<Response, ApiError> {
    let (id, committed) = run(app, raw_id, command, if_match, ctx).await?;
    Ok(accepted(StatusCode::OK, &id, committed.version))
}

pub(super) async fn run(
    app: &AppState,
    raw_id: &str,
    command: ProductCommand,
    if_match: Option<IfMatch>,
    ctx: &RequestContext,
) -> Result<(String, Committed), ApiError> {
    let id = product_id(raw_id)?;
    let committed = app
        .store
        .execute(&id, command, if_match.map(|m| m.0), &ctx.metadata())
        .await?;
    Ok((id, committed))
}

/// Change a product's details.
#[utoipa::path(
    patch,
    path = "/products/{id}",
    tag = "products",
    operation_id = "updateDetails",
    params(ProductPath, CommandHeaders),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "Done (a request that changes nothing writes nothing and answers the current version)", body = Accepted, headers(
            ("ETag" = String, description = "`\"<version>\"`: the product's version after the command"),
            ("Idempotent-Replayed" = bool, description = "`true` on a replay of a stored response"),
        )),
        doc::BodyCommandErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn update_details(
    State(app): State<AppState>,
    Path(id): Path<String>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    if body.product_type.is_some() {
        return Err(ApiError::from(CommonError::invalid(
            "type",
            "is fixed at creation and cannot be changed",
        )));
    }
    let name = match body.name {
        Some(None) => {
            return Err(ApiError::from(CommonError::invalid(
                "name",
                "must not be null",
            )))
        }
        other => other.flatten(),
    };
    let update = UpdateDetails {
        name,
        description: body.description,
        category: body.category,
        attributes: body.attributes.map(Option::unwrap_or_default),
    };
    let (id, committed) = run(
        &app,
        &id,
        ProductCommand::UpdateDetails(update),
        if_match,
        &ctx,
    )
    .await?;
    Ok(accepted(StatusCode::OK, &id, committed.version))
}

/// Change a product's price.
#[utoipa::path(
    put,
    path = "/products/{id}/price",
    tag = "products",
    operation_id = "changePrice",
    params(ProductPath, CommandHeaders),
    request_body = MoneyBody,
    responses(
        (status = 200, description = "Done (the same price writes nothing and answers the current version)", body = Accepted, headers(
            ("ETag" = String, description = "`\"<version>\"`: the product's version after the command"),
            ("Idempotent-Replayed" = bool, description = "`true` on a replay of a stored response"),
        )),
        doc::BodyCommandErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn change_price(
    State(app): State<AppState>,
    Path(id): Path<String>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<MoneyBody>,
) -> Result<Response, ApiError> {
    let mut missing = Missing::default();
    let price = missing.money("", Some(body));
    if !missing.0.is_empty() {
        return Err(ApiError::from(CommonError::Validation(missing.0)));
    }
    let (id, committed) = run(
        &app,
        &id,
        ProductCommand::ChangePrice(price),
        if_match,
        &ctx,
    )
    .await?;
    Ok(accepted(StatusCode::OK, &id, committed.version))
}

/// A change of stock; stock never goes below 0 (409 `insufficient-stock`).
#[derive(Deserialize, ToSchema)]
#[schema(as = StockAdjustment)]
pub(crate) struct StockBody {
    /// Units added (positive) or removed (negative); not 0.
    #[schema(value_type = i64, schema_with = doc::delta)]
    delta: Option<i64>,
    /// Why: 1 to 200 characters, not all white space; recorded on the event.
    #[schema(value_type = String, schema_with = doc::reason)]
    reason: Option<String>,
}

impl StockBody {
    /// The adjustment of `variant_id`'s stock, or 422 naming the missing fields.
    pub(super) fn into_command(self, variant_id: String) -> Result<ProductCommand, ApiError> {
        let mut missing = Missing::default();
        let delta = missing.take("delta", self.delta);
        let reason = missing.take("reason", self.reason);
        missing.check(Ok(()))?;
        Ok(ProductCommand::AdjustStock {
            variant_id,
            delta,
            reason,
        })
    }
}

/// Adjust a product's stock.
#[utoipa::path(
    post,
    path = "/products/{id}/stock-adjustments",
    tag = "products",
    operation_id = "adjustStock",
    params(ProductPath, CommandHeaders),
    request_body = StockBody,
    responses(
        Done,
        doc::BodyCommandErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn adjust_stock(
    State(app): State<AppState>,
    Path(id): Path<String>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
    JsonBody(body): JsonBody<StockBody>,
) -> Result<Response, ApiError> {
    let command = body.into_command(MASTER.to_string())?;
    done(&app, &id, command, if_match, &ctx).await
}

/// Publish a draft product (409 if already published or archived).
#[utoipa::path(
    post,
    path = "/products/{id}/publish",
    tag = "products",
    operation_id = "publishProduct",
    params(ProductPath, CommandHeaders),
    responses(
        Done,
        doc::CommandErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn publish(
    State(app): State<AppState>,
    Path(id): Path<String>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
) -> Result<Response, ApiError> {
    done(&app, &id, ProductCommand::Publish, if_match, &ctx).await
}

/// Take a published product back to draft (409 if it is a draft or archived).
#[utoipa::path(
    post,
    path = "/products/{id}/unpublish",
    tag = "products",
    operation_id = "unpublishProduct",
    params(ProductPath, CommandHeaders),
    responses(
        Done,
        doc::CommandErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn unpublish(
    State(app): State<AppState>,
    Path(id): Path<String>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
) -> Result<Response, ApiError> {
    done(&app, &id, ProductCommand::Unpublish, if_match, &ctx).await
}

/// Archive a product: it accepts no command afterwards and frees its SKU; its events are never deleted.
#[utoipa::path(
    delete,
    path = "/products/{id}",
    tag = "products",
    operation_id = "archiveProduct",
    params(ProductPath, CommandHeaders),
    responses(
        Done,
        doc::CommandErrors,
    ),
    security(("bearer" = ["catalog:write"])),
)]
pub(crate) async fn archive(
    State(app): State<AppState>,
    Path(id): Path<String>,
    if_match: Option<IfMatch>,
    ctx: RequestContext,
) -> Result<Response, ApiError> {
    let (id, committed) = run(&app, &id, ProductCommand::Archive, if_match, &ctx).await?;
    if !committed.events.is_empty() {
        app.skus.release_all(&id).await;
    }
    Ok(accepted(StatusCode::OK, &id, committed.version))
}
