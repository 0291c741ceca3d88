//! The blob store of originals and renditions, through `object_store`: the local filesystem by
//! default (`BLOB_STORE=file://./data/blobs`), any S3-compatible store with
//! `BLOB_STORE=s3://bucket/prefix` and the usual `AWS_*` variables. Nothing outside this module
//! knows which it is.
//!
//! Layout: everything of one image lives under `images/<image_id>/` — the original as
//! `original-<sha256>.<ext>` (its name carries its content hash) and each rendition as
//! `<name>.webp` / `<name>.jpg` — so removing an image is removing one prefix, and no two images
//! ever share a blob that one of them could delete.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use catalog_support::config::ConfigError;
use catalog_support::health::{Dependency, Need};

/// A handle to the blob store of originals and renditions; cheap to clone. Keys are
/// `/`-separated paths relative to the store's own prefix.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob has this key.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The store could not be reached or failed: worth retrying.
    #[error("blob store: {0}")]
    Unavailable(#[from] object_store::Error),
}

impl BlobStore {
    /// Readiness's view of the store: it answers a listing.
    pub fn dependency(&self, need: Need) -> Dependency {
        let blobs = self.clone();
        Dependency::new("blobs", need, move || {
            let blobs = blobs.clone();
            async move { blobs.check().await.map_err(|e| e.to_string()) }
        })
    }

    /// From a `BLOB_STORE` URL: `file://<dir>` (relative paths are resolved against the working
    /// directory, and the directory is created) or `s3://<bucket>[/<prefix>]`.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let bad = |message: String| ConfigError::new("BLOB_STORE", message);
        if let Some(dir) = url.strip_prefix("file://") {
            let dir = std::path::Path::new(if dir.is_empty() { "." } else { dir });
            std::fs::create_dir_all(dir)
                .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
            let store = LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| bad(format!("cannot use {}: {e}", dir.display())))?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::default(),
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("s3:// needs a bucket name".into()));
            }
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(format!("cannot configure S3: {e}")))?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::from(prefix),
            });
        }
        Err(bad("must start with file:// or s3://".into()))
    }

    fn path(&self, key: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in key.split('/') {
            path = path.join(part);
        }
        path
    }

    /// Stores `bytes` under `key`, replacing any blob there.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        self.store
            .put(&self.path(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// The whole blob at `key`, in memory.
    pub async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        match self.store.get(&self.path(key)).await {
            Ok(result) => Ok(result.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(key.to_string())),
            Err(err) => Err(err.into()),
        }
    }

    /// The blob as a stream of chunks, for serving without holding it whole in memory.
    pub async fn stream(
        &self,
        key: &str,
    ) -> Result<
        impl futures::Stream<Item = Result<Bytes, object_store::Error>> + Send + 'static,
        BlobError,
    > {
        match self.store.get(&self.path(key)).await {
            Ok(result) => Ok(result.into_stream()),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(key.to_string())),
            Err(err) => Err(err.into()),
        }
    }

    /// A blob written as it arrives, in parts, for files too large to hold in memory (an
    /// import's upload). Nothing is stored under `key` until [`BlobWriter::finish`].
    pub async fn writer(&self, key: &str) -> Result<BlobWriter, BlobError> {
        let upload = self.store.put_multipart(&self.path(key)).await?;
        Ok(BlobWriter(WriteMultipart::new(upload)))
    }

    /// The blob from byte `offset` on, as a stream of chunks: where a resumed reader
    /// starts again.
    pub async fn stream_from(
        &self,
        key: &str,
        offset: u64,
    ) -> Result<
        impl futures::Stream<Item = Result<Bytes, object_store::Error>> + Send + 'static,
        BlobError,
    > {
        let options = GetOptions {
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.path(key), options).await {
            Ok(result) => Ok(result.into_stream()),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(key.to_string())),
            Err(err) => Err(err.into()),
        }
    }

    /// Deletes one blob; a blob already gone is fine.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Answers when the store can be reached: a lookup of a key that never exists, so that a
    /// readiness probe costs one metadata request and writes nothing.
    pub async fn check(&self) -> Result<(), BlobError> {
        match self.store.head(&self.path(".ready-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Every key under `prefix` (relative to the store's own prefix).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let base = self.prefix.as_ref().len();
        let objects: Vec<_> = self
            .store
            .list(Some(&self.path(prefix)))
            .try_collect()
            .await?;
        Ok(objects
            .into_iter()
            .map(|o| {
                let full = o.location.as_ref();
                full[base..].trim_start_matches('/').to_string()
            })
            .collect())
    }

    /// Deletes everything under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, BlobError> {
        let keys = self.list(prefix).await?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }
}

/// A blob being written part by part ([`BlobStore::writer`]).
pub struct BlobWriter(WriteMultipart);

impl BlobWriter {
    /// Adds `bytes` to the blob, waiting while too many parts are still being sent.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), BlobError> {
        self.0.wait_for_capacity(4).await?;
        self.0.put(bytes);
        Ok(())
    }

    /// Stores the blob whole.
    pub async fn finish(self) -> Result<(), BlobError> {
        self.0.finish().await?;
        Ok(())
    }

    /// Gives the blob up: nothing is stored.
    pub async fn abort(self) -> Result<(), BlobError> {
        self.0.abort().await?;
        Ok(())
    }
}

/// The key of an uploaded import file.
pub fn import_key(import_id: &str) -> String {
    format!("imports/{import_id}.ndjson")
}

/// Key of an image's original: the content hash in the name keeps it immutable and verifiable.
pub fn original_key(image_id: &str, sha256_hex: &str, extension: &str) -> String {
    format!("images/{image_id}/original-{sha256_hex}.{extension}")
}

/// Key of one rendition of an image: `name` is the rendition's, `extension` its format's
/// (`webp` or `jpg`).
pub fn rendition_key(image_id: &str, name: &str, extension: &str) -> String {
    format!("images/{image_id}/{name}.{extension}")
}

/// The prefix of everything stored for one image: deleting it removes the image's blobs.
pub fn image_prefix(image_id: &str) -> String {
    format!("images/{image_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_round_trip_on_the_local_filesystem() {
        let dir = std::env::temp_dir().join(format!("catalog-blobs-{}", uuid::Uuid::new_v4()));
        let store = BlobStore::from_url(&format!("file://{}", dir.display())).unwrap();
        let key = rendition_key("img-1", "thumb", "webp");
        store
            .put(&key, Bytes::from_static(b"pixels"))
            .await
            .unwrap();
        store
            .put(
                &original_key("img-1", "abc", "jpg"),
                Bytes::from_static(b"o"),
            )
            .await
            .unwrap();
        assert_eq!(
            store.get(&key).await.unwrap(),
            Bytes::from_static(b"pixels")
        );
        let mut keys = store.list("images/img-1").await.unwrap();
        keys.sort();
        assert_eq!(
            keys,
            ["images/img-1/original-abc.jpg", "images/img-1/thumb.webp"]
        );
        assert_eq!(store.delete_prefix("images/img-1").await.unwrap(), 2);
        assert!(matches!(store.get(&key).await, Err(BlobError::NotFound(_))));
        store.delete(&key).await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(BlobStore::from_url("ftp://x").is_err());
        assert!(BlobStore::from_url("s3://").is_err());
    }
}
