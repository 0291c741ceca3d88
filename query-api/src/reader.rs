//! Reading one product: this process's own cache first, then Redis, then PostgreSQL on a miss
//! (written back to Redis), with concurrent misses of one product sharing a single PostgreSQL
//! load. What is read is kept and served as the bytes of its JSON: a hot read serializes
//! nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use catalog_read_model::redis::RedisReadModel;
use futures::future::{BoxFuture, Shared};
use futures::FutureExt;
use sqlx::PgPool;

use crate::error::ApiError;
use crate::local_cache::{Document, LocalCache};
use catalog_support::problem::CommonError;

/// How long a finished load keeps answering late joiners: requests that missed Redis just
/// before the write-back landed would otherwise start a second load.
const LINGER: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
enum LoadError {
    Unavailable,
    Failed(String),
}

type Load = Shared<BoxFuture<'static, Result<Option<Document>, LoadError>>>;

/// Reads single products for `GET /products/{id}` and its `min_version` waits.
pub struct ProductReader {
    redis: RedisReadModel,
    pool: PgPool,
    /// The first level, also told of announcements by the version watch.
    pub local: Arc<LocalCache>,
    inflight: Mutex<HashMap<String, Load>>,
    /// PostgreSQL loads of single products, for tests and the cache-efficiency metric.
    pub postgres_loads: AtomicU64,
}

impl ProductReader {
    /// Reads through `local`, then `redis`, then the PostgreSQL read model in `pool`.
    pub fn new(redis: RedisReadModel, pool: PgPool, local: Arc<LocalCache>) -> Self {
        Self {
            redis,
            pool,
            local,
            inflight: Mutex::new(HashMap::new()),
            postgres_loads: AtomicU64::new(0),
        }
    }

    /// The product `id` as the read models hold it, `None` if there is none. Fails only when it
    /// must load from PostgreSQL and cannot: 503 if the database is unreachable, else 500.
    pub async fn get(self: &Arc<Self>, id: &str) -> Result<Option<Document>, ApiError> {
        if let Some(document) = self.local.get(id) {
            return Ok(Some(document));
        }
        let ticket = self.local.ticket();
        // A document that does not parse counts as a miss: PostgreSQL has the truth.
        let cached = self.redis.get_raw(id).await;
        match cached.map(|json| json.and_then(Document::from_json)) {
            Ok(Some(document)) => {
                metrics::counter!("catalog_cache_requests_total", "result" => "hit").increment(1);
                self.local.offer(id, &document, ticket);
                return Ok(Some(document));
            }
            Ok(None) => {
                metrics::counter!("catalog_cache_requests_total", "result" => "miss").increment(1);
            }
            Err(err) => {
                metrics::counter!("catalog_cache_requests_total", "result" => "fallback")
                    .increment(1);
                tracing::debug!(error = %err, "Redis unavailable; reading from PostgreSQL");
            }
        }
        let load = {
            let mut inflight = self.inflight.lock().expect("not poisoned");
            match inflight.get(id) {
                Some(load) => load.clone(),
                None => {
                    let load = self.start_load(id.to_string());
                    inflight.insert(id.to_string(), load.clone());
                    load
                }
            }
        };
        load.await.map_err(|err| match err {
            LoadError::Unavailable => ApiError::from(CommonError::Unavailable("the database")),
            LoadError::Failed(message) => ApiError::from(anyhow::anyhow!(message)),
        })
    }

    /// Runs the load as a task of its own, so it finishes (and leaves the in-flight table) even
    /// if every request waiting on it goes away.
    fn start_load(self: &Arc<Self>, id: String) -> Load {
        let reader = Arc::clone(self);
        let task = tokio::spawn(async move {
            let result = reader.load(&id).await;
            let reader = Arc::clone(&reader);
            tokio::spawn(async move {
                tokio::time::sleep(LINGER).await;
                reader.inflight.lock().expect("not poisoned").remove(&id);
            });
            result
        });
        async move {
            task.await
                .unwrap_or_else(|e| Err(LoadError::Failed(format!("load task failed: {e}"))))
        }
        .boxed()
        .shared()
    }

    async fn load(&self, id: &str) -> Result<Option<Document>, LoadError> {
        let ticket = self.local.ticket();
        self.postgres_loads.fetch_add(1, Ordering::Relaxed);
        let view = catalog_read_model::postgres::live_view(&self.pool, id)
            .await
            .map_err(|err| {
                if catalog_support::db::is_unavailable(&err) {
                    LoadError::Unavailable
                } else {
                    LoadError::Failed(format!("loading {id}: {err}"))
                }
            })?;
        let Some((view, generation)) = view else {
            return Ok(None);
        };
        // Version-guarded: never overwrites what the projector wrote meanwhile.
        if let Err(err) = self.redis.write_back(generation, &view).await {
            tracing::debug!(error = %err, "could not refill Redis");
        }
        let document = Document::new(
            view.version,
            Bytes::from(serde_json::to_vec(&view).expect("a view serializes")),
        );
        self.local.offer(id, &document, ticket);
        Ok(Some(document))
    }
}
