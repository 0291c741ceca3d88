//! The Product aggregate: its state, [`Product::decide`] to turn a command into events under
//! the rules, and `apply` to fold an event into the state.

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use crate::commands::{AttachImage, CreateProduct, ProductCommand, RecordImageProcessed};
use crate::details::{Context, DetailField, Details, UpdateDetails};
use crate::error::ProductError;
use crate::events::{ImageOriginal, ProductEvent, Rendition};
use crate::locale::Locale;
use crate::money::Money;
use crate::prices::Price;
use crate::rules::Violations;
use crate::variants::{Variant, MASTER};

/// Most images one product may hold at once (the HTTP contract's limit).
pub const MAX_IMAGES: usize = 20;

#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    Draft,
    Published,
    Archived,
}

impl ProductStatus {
    /// The status as serialised (lowercase), for history and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }
}

#[allow(missing_docs)] // documented in the HTTP contract; a doc comment here would change the OpenAPI document
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ImageStatus {
    Processing,
    Ready,
    Failed,
}

impl ImageStatus {
    /// The status as serialised (lowercase), for messages such as `ImageNotProcessing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

/// An image attached to a product, and what processing has made of it so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Id of the image, unique among the product's images.
    pub id: String,
    /// Processing from attachment until the image worker records it ready or failed; final then.
    pub status: ImageStatus,
    /// The uploaded file the renditions are made from.
    pub original: ImageOriginal,
    /// Why processing failed; set only when the image is failed.
    pub failure: Option<String>,
    /// Oriented size of the image, known once processed.
    pub width: Option<u32>,
    /// Oriented height of the image, known once processed.
    pub height: Option<u32>,
    /// BlurHash placeholder, known once processed if the worker computed one.
    pub blurhash: Option<String>,
    /// Renditions by name (see [`RENDITION_NAMES`](crate::events::RENDITION_NAMES)); empty
    /// until processed.
    pub renditions: BTreeMap<String, Rendition>,
}

impl Image {
    /// Every blob this image owns.
    pub fn blob_keys(&self) -> Vec<String> {
        std::iter::once(self.original.key.clone())
            .chain(
                self.renditions
                    .values()
                    .flat_map(|r| [r.webp_key.clone(), r.jpeg_key.clone()]),
            )
            .collect()
    }
}

/// The Product aggregate. `status` is `None` until the product is created, which is how a
/// command to an unknown id is told apart from one to an existing product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Lifecycle status; `None` until created.
    pub status: Option<ProductStatus>,
    /// The key of its product type, fixed at creation; `None` for an untyped product.
    #[serde(default)]
    pub product_type: Option<String>,
    /// The descriptive fields; empty until created.
    pub details: Details,
    /// Its variants, the master first: empty only until created. A state stored before
    /// variants existed has no such field, and is refolded from the events rather than read.
    pub variants: Vec<Variant>,
    /// Attached images in attachment order, at most [`MAX_IMAGES`].
    pub images: Vec<Image>,
}

impl Product {
    /// Rebuilds a product from its events, as the event store holds them.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a ProductEvent>) -> Self {
        let mut product = Self::default();
        for event in events {
            product.apply(event.clone());
        }
        product
    }

    /// Whether the product has been created; an archived product still exists.
    pub fn exists(&self) -> bool {
        self.status.is_some()
    }

    /// The master's SKU, which the product was created with (v1's `sku`); empty until created.
    pub fn sku(&self) -> &str {
        self.master().map_or("", |m| m.sku.as_str())
    }

    /// The master's stock (v1's `stock`); 0 until created.
    pub fn stock(&self) -> i64 {
        self.master().map_or(0, |m| m.stock)
    }

    /// The master's base price (v1's `price`); `None` only until created.
    pub fn price(&self) -> Option<&Money> {
        self.master().and_then(Variant::base_price)
    }

    /// Every SKU the product holds, the master's first.
    pub fn skus(&self) -> impl Iterator<Item = &str> {
        self.variants.iter().map(|v| v.sku.as_str())
    }

    fn image(&self, image_id: &str) -> Result<&Image, ProductError> {
        self.images
            .iter()
            .find(|i| i.id == image_id)
            .ok_or(ProductError::ImageNotFound)
    }

    fn image_mut(&mut self, image_id: &str) -> Option<&mut Image> {
        self.images.iter_mut().find(|i| i.id == image_id)
    }

    /// Decides which events a command produces, or why it is refused. Pure: the state is not
    /// changed here, only by `apply`. An empty list means the command changes nothing.
    /// `context` holds the definition of the product's type (of the type a create names), which
    /// only creates and details updates read.
    pub fn decide(
        &self,
        command: ProductCommand,
        context: Context<'_>,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        if let Some(field) = self.wrong_type(&command) {
            return Err(ProductError::WrongType { field });
        }
        // Made of the other commands' decisions, which check the product's state themselves.
        if let ProductCommand::Import(import) = command {
            return self.import(import, context);
        }
        let status = match (self.status, &command) {
            (None, ProductCommand::Create(_)) => {
                return Self::create(command_create(command), context)
            }
            (Some(_), ProductCommand::Create(_)) => return Err(ProductError::AlreadyExists),
            (None, _) => return Err(ProductError::NotFound),
            (Some(status), _) => status,
        };
        if status == ProductStatus::Archived {
            return Err(ProductError::Archived);
        }
        match command {
            ProductCommand::Create(_) | ProductCommand::Import(_) => {
                unreachable!("handled above")
            }
            ProductCommand::UpdateDetails(update) => self.update_details(update, context),
            ProductCommand::ChangePrice(price) => self.change_price(price),
            ProductCommand::AdjustStock {
                variant_id,
                delta,
                reason,
            } => self.adjust_stock(variant_id, delta, reason),
            ProductCommand::AddVariant(add) => self.add_variant(add, context),
            ProductCommand::ChangeVariant {
                variant_id,
                attributes,
            } => self.change_variant(variant_id, attributes, context),
            ProductCommand::RemoveVariant { variant_id } => self.remove_variant(&variant_id),
            ProductCommand::SetPrices { variant_id, prices } => self.set_prices(variant_id, prices),
            ProductCommand::Publish => match status {
                ProductStatus::Published => Err(ProductError::AlreadyPublished),
                _ => Ok(vec![ProductEvent::ProductPublished {}]),
            },
            ProductCommand::Unpublish => match status {
                ProductStatus::Published => Ok(vec![ProductEvent::ProductUnpublished {}]),
                _ => Err(ProductError::NotPublished),
            },
            ProductCommand::Archive => Ok(vec![ProductEvent::ProductArchived {
                sku: self.sku().to_string(),
            }]),
            ProductCommand::AttachImage(attach) => self.attach_image(attach),
            ProductCommand::RemoveImage { image_id } => {
                let image = self.image(&image_id)?;
                Ok(vec![ProductEvent::ImageRemoved {
                    blob_keys: image.blob_keys(),
                    image_id,
                }])
            }
            ProductCommand::RecordImageProcessed(processed) => self.record_processed(processed),
            ProductCommand::RecordImageFailed { image_id, reason } => {
                self.processing_image(&image_id)?;
                let mut violations = Violations::default();
                violations.reason("reason", &reason);
                violations.into_result().map_err(ProductError::Invalid)?;
                Ok(vec![ProductEvent::ImageProcessingFailed {
                    image_id,
                    reason,
                }])
            }
        }
    }

    /// The first attribute of an untyped product that is not a string, as `attributes.<name>`
    /// (`variant_attributes.<name>`): a malformed body rather than a broken rule (see
    /// [`ProductError::WrongType`]).
    fn wrong_type(&self, command: &ProductCommand) -> Option<String> {
        let untyped = |attributes| {
            crate::attributes::untyped(attributes)
                .err()
                .map(|key| format!("attributes.{key}"))
        };
        match command {
            ProductCommand::Create(create) if create.product_type.is_none() => {
                untyped(&create.attributes).or_else(|| {
                    untyped(&create.variant_attributes).map(|field| format!("variant_{field}"))
                })
            }
            _ if self.product_type.is_some() => None,
            ProductCommand::UpdateDetails(update) => untyped(update.attributes.as_ref()?),
            ProductCommand::AddVariant(add) => untyped(&add.attributes),
            ProductCommand::ChangeVariant { attributes, .. } => untyped(attributes),
            _ => None,
        }
    }

    fn create(
        create: CreateProduct,
        context: Context<'_>,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        let mut violations = Violations::default();
        violations.sku(&create.sku);
        // A type that does not exist is reported, and the attributes, which cannot be checked
        // without it, are left for the next attempt.
        let product_type = match &create.product_type {
            Some(key) => {
                let found = context.product_type.filter(|t| t.key == *key);
                if found.is_none() {
                    violations.push("type", format!("there is no product type {key}"));
                }
                found
            }
            None => None,
        };
        let typed_but_unknown = create.product_type.is_some() && product_type.is_none();
        let context = Context {
            product_type,
            ..context
        };
        let details = UpdateDetails {
            name: Some(create.name),
            description: Some(create.description),
            category: Some(create.category),
            attributes: (!typed_but_unknown).then_some(create.attributes),
        }
        .applied_to(&Details::default(), context, &mut violations);
        let variant_attributes = if typed_but_unknown {
            create.variant_attributes
        } else {
            Self::checked_variant_attributes(
                create.product_type.as_deref(),
                context,
                "variant_attributes",
                create.variant_attributes,
                true,
                &mut violations,
            )?
        };
        violations.money("price", &create.price);
        violations.stock(create.stock);
        violations.into_result().map_err(ProductError::Invalid)?;
        Ok(vec![ProductEvent::ProductCreated {
            sku: create.sku,
            product_type: create.product_type,
            details,
            price: create.price,
            stock: create.stock,
            variant_attributes,
        }])
    }

    fn update_details(
        &self,
        update: UpdateDetails,
        context: Context<'_>,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        if update.is_empty() {
            return Err(ProductError::invalid(
                "body",
                format!("give at least one of {}", DetailField::listed()),
            ));
        }
        let context = Context {
            product_type: self.product_type.as_ref().and(context.product_type),
            ..context
        };
        if let (Some(key), Some(_)) = (&self.product_type, &update.attributes) {
            if context.product_type.is_none_or(|t| t.key != *key) {
                return Err(ProductError::TypeUnavailable(key.clone()));
            }
        }
        let mut violations = Violations::default();
        let current = &self.details;
        let details = update.applied_to(current, context, &mut violations);
        violations.into_result().map_err(ProductError::Invalid)?;

        let changed: Vec<String> = DetailField::changed(current, &details)
            .into_iter()
            .map(|field| field.name().to_string())
            .collect();
        if changed.is_empty() {
            return Ok(vec![]);
        }
        Ok(vec![ProductEvent::DetailsUpdated { details, changed }])
    }

    fn attach_image(&self, attach: AttachImage) -> Result<Vec<ProductEvent>, ProductError> {
        if self.images.iter().any(|i| i.id == attach.image_id) {
            return Err(ProductError::ImageAlreadyAttached(attach.image_id));
        }
        if self.images.len() >= MAX_IMAGES {
            return Err(ProductError::TooManyImages { limit: MAX_IMAGES });
        }
        Ok(vec![ProductEvent::ImageAttached {
            image_id: attach.image_id,
            original: attach.original,
        }])
    }

    fn processing_image(&self, image_id: &str) -> Result<&Image, ProductError> {
        let image = self.image(image_id)?;
        if image.status != ImageStatus::Processing {
            return Err(ProductError::ImageNotProcessing {
                status: image.status.as_str().to_string(),
            });
        }
        Ok(image)
    }

    fn record_processed(
        &self,
        processed: RecordImageProcessed,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        self.processing_image(&processed.image_id)?;
        if processed.renditions.is_empty() {
            return Err(ProductError::invalid("renditions", "must not be empty"));
        }
        Ok(vec![ProductEvent::ImageProcessed {
            image_id: processed.image_id,
            width: processed.width,
            height: processed.height,
            blurhash: processed.blurhash,
            renditions: processed.renditions,
        }])
    }
}

fn command_create(command: ProductCommand) -> CreateProduct {
    match command {
        ProductCommand::Create(create) => create,
        _ => unreachable!("only called for Create"),
    }
}

impl Aggregate for Product {
    const TYPE: &'static str = "Product";
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = ProductError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        // Through cqrs-es alone there is no type to check against: typed details updates are
        // refused (`TypeUnavailable`); the store passes the definition (`ProductStore::execute`).
        let locale = Locale::default();
        let context = Context {
            product_type: None,
            default_locale: &locale,
        };
        for event in self.decide(command, context)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ProductEvent::ProductCreated {
                sku,
                product_type,
                details,
                price,
                stock,
                variant_attributes,
            } => {
                self.status = Some(ProductStatus::Draft);
                self.product_type = product_type;
                self.details = details;
                self.variants = vec![Variant {
                    id: MASTER.to_string(),
                    sku,
                    attributes: variant_attributes,
                    prices: vec![Price::base(price)],
                    stock,
                }];
            }
            ProductEvent::DetailsUpdated { details, .. } => self.details = details,
            ProductEvent::PriceChanged { price, previous } => {
                if let Some(master) = self.variant_mut(MASTER) {
                    match master.undated_in(&previous.currency) {
                        Some(at) => master.prices[at] = Price::base(price),
                        None => master.prices.insert(0, Price::base(price)),
                    }
                }
            }
            ProductEvent::StockAdjusted { stock, .. } => {
                if let Some(master) = self.variant_mut(MASTER) {
                    master.stock = stock;
                }
            }
            ProductEvent::ProductPublished {} => self.status = Some(ProductStatus::Published),
            ProductEvent::ProductUnpublished {} => self.status = Some(ProductStatus::Draft),
            ProductEvent::ProductArchived { .. } => self.status = Some(ProductStatus::Archived),
            ProductEvent::ImageAttached { image_id, original } => self.images.push(Image {
                id: image_id,
                status: ImageStatus::Processing,
                original,
                failure: None,
                width: None,
                height: None,
                blurhash: None,
                renditions: BTreeMap::new(),
            }),
            ProductEvent::ImageRemoved { image_id, .. } => self.images.retain(|i| i.id != image_id),
            ProductEvent::ImageProcessed {
                image_id,
                width,
                height,
                blurhash,
                renditions,
            } => {
                if let Some(image) = self.image_mut(&image_id) {
                    image.status = ImageStatus::Ready;
                    image.width = Some(width);
                    image.height = Some(height);
                    image.blurhash = blurhash;
                    image.renditions = renditions;
                }
            }
            ProductEvent::ImageProcessingFailed { image_id, reason } => {
                if let Some(image) = self.image_mut(&image_id) {
                    image.status = ImageStatus::Failed;
                    image.failure = Some(reason);
                }
            }
            ProductEvent::VariantAdded {
                variant_id,
                sku,
                attributes,
                prices,
                stock,
            } => self.variants.push(Variant {
                id: variant_id,
                sku,
                attributes,
                prices,
                stock,
            }),
            ProductEvent::VariantAttributesChanged {
                variant_id,
                attributes,
            } => {
                if let Some(variant) = self.variant_mut(&variant_id) {
                    variant.attributes = attributes;
                }
            }
            ProductEvent::VariantRemoved { variant_id, .. } => {
                self.variants.retain(|v| v.id != variant_id);
            }
            ProductEvent::VariantStockAdjusted {
                variant_id, stock, ..
            } => {
                if let Some(variant) = self.variant_mut(&variant_id) {
                    variant.stock = stock;
                }
            }
            ProductEvent::PricesSet { variant_id, prices } => {
                if let Some(variant) = self.variant_mut(&variant_id) {
                    variant.prices = prices;
                }
            }
        }
    }
}
