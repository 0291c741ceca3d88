//! Originals of uploads that died between storing their blob and appending `ImageAttached`.
//! command-api records an intent before it stores the blob and deletes it once the append has a
//! definite answer; an intent still there after any request must have ended belongs to such an
//! upload. Its blobs are deleted unless an event attached the image after all (a commit whose
//! answer was lost), and the intent goes either way.

use std::time::Duration;

use catalog_store::blobs::{self, BlobStore};
use catalog_store::log;
use catalog_support::shutdown::Shutdown;
use sqlx::PgPool;

/// Intents looked at per round.
const BATCH: i64 = 100;

/// The image worker's periodic sweep of abandoned uploads.
pub struct Sweep {
    /// Holds the `upload_intents` table and the events that show whether an image was attached.
    pub pool: PgPool,
    /// Where the abandoned originals are deleted.
    pub blobs: BlobStore,
    /// Time between rounds (`UPLOAD_SWEEP_EVERY_SECS`).
    pub every: Duration,
    /// Longer than command-api's request timeout: a younger intent may belong to a live upload.
    pub abandoned_after: Duration,
}

impl Sweep {
    /// Runs a round every `every` until `shutdown`; a failed round is logged and retried at
    /// the next.
    pub async fn run(self, shutdown: Shutdown) {
        shutdown
            .every(self.every, || async {
                if let Err(err) = self.round().await {
                    tracing::warn!(error = %err, "sweeping abandoned uploads failed; will retry");
                }
            })
            .await;
    }

    /// One pass over the abandoned intents; returns how many originals were deleted.
    pub async fn round(&self) -> anyhow::Result<usize> {
        let abandoned: Vec<(String, String)> = sqlx::query_as(
            "SELECT image_id, product_id FROM upload_intents \
             WHERE created_at < now() - make_interval(secs => $1) \
             ORDER BY created_at LIMIT $2",
        )
        .bind(self.abandoned_after.as_secs_f64())
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut deleted = 0;
        for (image_id, product_id) in abandoned {
            let attached = log::image_was_attached(&self.pool, &product_id, &image_id).await?;
            if !attached {
                let blobs = self
                    .blobs
                    .delete_prefix(&blobs::image_prefix(&image_id))
                    .await?;
                tracing::warn!(
                    image_id,
                    product_id,
                    blobs,
                    "deleted the original of an upload that was never attached"
                );
                deleted += 1;
            }
            sqlx::query("DELETE FROM upload_intents WHERE image_id = $1")
                .bind(&image_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(deleted)
    }
}
