//! The image worker: turns an attached image's original into its renditions, as a side effect
//! of `ImageAttached`, and reports back with a command (`RecordImageProcessed` or
//! `RecordImageFailed`) whose causation id is the event's id. `ImageRemoved` deletes the image's
//! blobs.
//!
//! Idempotent: the product is loaded first, and an image no longer processing (done, failed or
//! removed) is left alone. A bad file fails the image at once; an unreachable blob store or
//! database is retried through the delay queue for as long as it takes, and anything else a
//! bounded number of times before the message is dead-lettered and the image recorded as failed.
//! Compensation: renditions written for an image that then fails are deleted.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use catalog_domain::{
    ImageOriginal, ImageStatus, ProductCommand, ProductError, RecordImageProcessed, Rendition,
};
use catalog_renditions::{render, Limits, RenderError};
use catalog_store::blobs::{self, BlobError, BlobStore};
use catalog_store::broker::{ConsumerSpec, WireEvent, IMAGES};
use catalog_store::event_store::ProductStore;
use catalog_store::repository::StoreError;
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::consumer::{Consumer, Handler, Stats};
use catalog_read_model::error::ApplyError;

/// The recorded failure reason is capped at the domain's 200 characters.
const REASON_MAX: usize = 200;

/// The image worker's [`Handler`]: renders `ImageAttached` images and deletes the blobs of
/// `ImageRemoved` ones.
pub struct ImageWorker {
    /// The event store: the product is loaded to check the image is still processing, and the
    /// outcome is recorded as a command on it.
    pub store: ProductStore,
    /// Where the originals are read and the renditions written.
    pub blobs: BlobStore,
    /// Pixels and decoder memory allowed; an image beyond them is recorded as failed.
    pub limits: Limits,
    /// Bounds CPU-heavy rendering, which runs on blocking threads off the async runtime.
    pub cpu: Arc<Semaphore>,
    /// Images processed (`applied`) and found no longer processing (`skipped`).
    pub stats: Arc<Stats>,
}

/// The image worker's consumer: images are independent, so it handles several at once.
pub type ImageConsumer = Consumer<ImageWorker>;

#[derive(Deserialize)]
struct Attached {
    image_id: String,
    original: ImageOriginal,
}

#[derive(Deserialize)]
struct Removed {
    image_id: String,
}

fn payload<T: for<'de> Deserialize<'de>>(event: &WireEvent) -> Result<T, ApplyError> {
    event
        .payload
        .get(&event.event_type)
        .cloned()
        .and_then(|inner| serde_json::from_value(inner).ok())
        .ok_or_else(|| {
            ApplyError::Permanent(anyhow::anyhow!("undecodable {} payload", event.event_type))
        })
}

fn blob_error(err: BlobError) -> ApplyError {
    ApplyError::Transient(anyhow::Error::new(err).context("blob store"))
}

fn store_error(err: StoreError) -> ApplyError {
    match err {
        StoreError::Unavailable => {
            ApplyError::Transient(anyhow::anyhow!("event store unavailable"))
        }
        StoreError::Contention => ApplyError::Transient(anyhow::anyhow!("contention")),
        other => ApplyError::Failing(anyhow::Error::new(other)),
    }
}

fn reason(text: &str) -> String {
    text.chars().take(REASON_MAX).collect()
}

impl Handler for ImageWorker {
    fn spec(&self) -> ConsumerSpec {
        IMAGES
    }

    async fn handle(&self, event: &WireEvent) -> Result<(), ApplyError> {
        match event.event_type.as_str() {
            "ImageAttached" => self.process(event, payload(event)?).await,
            "ImageRemoved" => {
                let removed: Removed = payload(event)?;
                let deleted = self
                    .blobs
                    .delete_prefix(&blobs::image_prefix(&removed.image_id))
                    .await
                    .map_err(blob_error)?;
                tracing::info!(
                    image_id = removed.image_id,
                    deleted,
                    "blobs of a removed image deleted"
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn dead_lettered(&self, event: &WireEvent, why: &str) {
        if event.event_type != "ImageAttached" {
            return;
        }
        let Ok(attached) = payload::<Attached>(event) else {
            return;
        };
        if let Err(err) = self
            .fail(
                event,
                &attached.image_id,
                &format!("processing gave up: {why}"),
            )
            .await
        {
            tracing::error!(error = %err, "could not record the failure of a dead-lettered image");
        }
    }
}

impl ImageWorker {
    /// Metadata of the commands the worker issues: caused by the event, in its correlation.
    fn metadata(event: &WireEvent) -> HashMap<String, String> {
        HashMap::from([
            ("actor".to_string(), "image-worker".to_string()),
            (
                "request_id".to_string(),
                event.metadata("request_id").to_string(),
            ),
            (
                "correlation_id".to_string(),
                event.metadata("correlation_id").to_string(),
            ),
            ("causation_id".to_string(), event.event_id.to_string()),
        ])
    }

    async fn process(&self, event: &WireEvent, attached: Attached) -> Result<(), ApplyError> {
        let product_id = &event.aggregate_id;
        let image_id = &attached.image_id;
        let (product, _) = self.store.load(product_id).await.map_err(store_error)?;
        let still_processing = product
            .images
            .iter()
            .any(|i| &i.id == image_id && i.status == ImageStatus::Processing);
        if !still_processing {
            tracing::debug!(image_id, "image no longer processing; nothing to do");
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }

        let original = match self.blobs.get(&attached.original.key).await {
            Ok(bytes) => bytes,
            Err(BlobError::NotFound(key)) => {
                return self
                    .fail(event, image_id, &format!("original {key} is missing"))
                    .await;
            }
            Err(err) => return Err(blob_error(err)),
        };
        let started = Instant::now();
        let rendered = {
            let _slot = self.cpu.acquire().await.expect("never closed");
            let limits = self.limits;
            tokio::task::spawn_blocking(move || render(&original, &limits))
                .await
                .map_err(|e| ApplyError::Failing(anyhow::anyhow!("render task failed: {e}")))?
        };
        metrics::histogram!("catalog_image_processing_seconds")
            .record(started.elapsed().as_secs_f64());
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(err) => {
                metrics::counter!("catalog_image_failures_total", "reason" => err.code())
                    .increment(1);
                tracing::warn!(image_id, error = %err, "image cannot be rendered");
                return self.fail(event, image_id, &render_reason(&err)).await;
            }
        };

        let mut renditions = BTreeMap::new();
        for encoded in rendered.renditions {
            let webp_key = blobs::rendition_key(image_id, encoded.name, "webp");
            let jpeg_key = blobs::rendition_key(image_id, encoded.name, "jpg");
            self.blobs
                .put(&webp_key, Bytes::from(encoded.webp))
                .await
                .map_err(blob_error)?;
            self.blobs
                .put(&jpeg_key, Bytes::from(encoded.jpeg))
                .await
                .map_err(blob_error)?;
            renditions.insert(
                encoded.name.to_string(),
                Rendition {
                    width: encoded.width,
                    height: encoded.height,
                    webp_key,
                    jpeg_key,
                },
            );
        }
        let command = ProductCommand::RecordImageProcessed(RecordImageProcessed {
            image_id: image_id.clone(),
            width: rendered.width,
            height: rendered.height,
            blurhash: Some(rendered.blurhash),
            renditions,
        });
        match self
            .store
            .execute(product_id, command, None, &Self::metadata(event))
            .await
        {
            Ok(_) => {
                self.stats.applied.fetch_add(1, Ordering::Relaxed);
                tracing::info!(image_id, "image processed");
                Ok(())
            }
            // Removed, or the product archived, while we worked: our renditions are orphans.
            Err(StoreError::Refused(ProductError::ImageNotFound | ProductError::Archived)) => {
                self.delete_renditions(image_id).await;
                Ok(())
            }
            // Another delivery of the same event finished first, with the same keys: keep them.
            Err(StoreError::Refused(ProductError::ImageNotProcessing { .. })) => Ok(()),
            Err(err) => Err(store_error(err)),
        }
    }

    /// Records the image as failed and deletes any renditions already written for it.
    async fn fail(&self, event: &WireEvent, image_id: &str, why: &str) -> Result<(), ApplyError> {
        self.delete_renditions(image_id).await;
        let command = ProductCommand::RecordImageFailed {
            image_id: image_id.to_string(),
            reason: reason(why),
        };
        match self
            .store
            .execute(&event.aggregate_id, command, None, &Self::metadata(event))
            .await
        {
            Ok(_) => {
                tracing::info!(image_id, reason = why, "image recorded as failed");
                Ok(())
            }
            Err(StoreError::Refused(_)) => Ok(()),
            Err(err) => Err(store_error(err)),
        }
    }

    /// Compensation: every rendition of the image, never its original (the image may still be
    /// shown as failed, and its original is what an operator would inspect).
    async fn delete_renditions(&self, image_id: &str) {
        let keys = match self.blobs.list(&blobs::image_prefix(image_id)).await {
            Ok(keys) => keys,
            Err(err) => {
                tracing::warn!(image_id, error = %err, "could not list renditions to delete");
                return;
            }
        };
        for key in keys
            .iter()
            .filter(|k| !k.rsplit('/').next().unwrap_or("").starts_with("original-"))
        {
            if let Err(err) = self.blobs.delete(key).await {
                tracing::warn!(key, error = %err, "could not delete a rendition");
            }
        }
    }
}

fn render_reason(err: &RenderError) -> String {
    format!("{}: {err}", err.code())
}
